{#-
  Expectations of the shop medallion, compiled to SQL: the one place a rule becomes a
  predicate and a readable reason.

  A rule is `{name, rule, column, ..., action}` in the catalog's vocabulary
  (project/lib/datasets/quality.py) plus `expression`:

    completeness    column is not null                     {column}
    range           min <= column <= max (either bound)    {column, min, max}
    allowed_values  column in values                       {column, values}
    regex           the column's text matches pattern      {column, pattern}
    expression      a SQL boolean, true = passes           {expression, column?, message?}

  A NULL passes every rule except completeness (an expression that is NULL passes too).
  Silver evaluates rules on the typed columns; `landed.<column>` is the same value as text,
  as it landed in bronze (regex reads it; an expression may, e.g. to tell a value that did
  not cast from a missing one). Gold evaluates them on its own columns (no `landed`).
  Silver actions: warn (counted), drop (to quarantine); gold: fail (a blocking dbt test).
-#}

{#- A Jinja string as a SQL string literal. -#}
{% macro shop_literal(text) -%}
    '{{ text | string | replace("'", "''") }}'
{%- endmacro %}

{#- A bound of a range rule: numbers as they are, anything else (a date) quoted. -#}
{% macro shop_bound(value) -%}
    {%- if value is number -%}{{ value }}{%- else -%}{{ shop_literal(value) }}{%- endif -%}
{%- endmacro %}

{#- The text of `column`: as landed (silver), else the value cast to text (gold). -#}
{% macro shop_text(column, landed) -%}
    {%- if landed -%}{{ landed }}."{{ column }}"{%- else -%}cast("{{ column }}" as varchar){%- endif -%}
{%- endmacro %}

{#- Fails a rule that names no column, or names fields the rule lacks, at compile time. -#}
{% macro shop_require(e, fields) %}
    {%- for field in fields if e.get(field) is none -%}
        {{ exceptions.raise_compiler_error(
            "expectation " ~ (e.name or e) ~ ": rule " ~ e.rule ~ " needs `" ~ field ~ "`") }}
    {%- endfor -%}
{% endmacro %}

{#- SQL, true when a row FAILS expectation `e` (never NULL). -#}
{% macro shop_fails(e, landed=none) -%}
    {%- set column = '"' ~ e.column ~ '"' if e.column else none -%}
    {%- if e.rule == 'completeness' -%}
        {{- shop_require(e, ['column']) -}}
        ({{ column }} is null)
    {%- elif e.rule == 'range' -%}
        {{- shop_require(e, ['column']) -}}
        {%- if e.get('min') is none and e.get('max') is none -%}
            {{ exceptions.raise_compiler_error("expectation " ~ e.name ~ ": range needs min or max") }}
        {%- endif -%}
        coalesce(
            {%- if e.get('min') is not none %}{{ column }} < {{ shop_bound(e.min) }}{% endif -%}
            {%- if e.get('min') is not none and e.get('max') is not none %} or {% endif -%}
            {%- if e.get('max') is not none %}{{ column }} > {{ shop_bound(e.max) }}{% endif -%}
        , false)
    {%- elif e.rule == 'allowed_values' -%}
        {{- shop_require(e, ['column', 'values']) -}}
        coalesce({{ column }} not in (
            {%- for value in e['values'] %}{{ shop_literal(value) }}{% if not loop.last %}, {% endif %}{% endfor -%}
        ), false)
    {%- elif e.rule == 'regex' -%}
        {{- shop_require(e, ['column', 'pattern']) -}}
        coalesce(not regexp_full_match({{ shop_text(e.column, landed) }}, {{ shop_literal(e.pattern) }}), false)
    {%- elif e.rule == 'expression' -%}
        {{- shop_require(e, ['expression']) -}}
        coalesce(not ({{ e.expression }}), false)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "expectation " ~ e.name ~ ": unknown rule " ~ e.rule
            ~ " (known: completeness, range, allowed_values, regex, expression)") }}
    {%- endif -%}
{%- endmacro %}

{#- SQL text saying why a failing row fails `e`, e.g. "unit_price -3.00 below min 0". -#}
{% macro shop_reason(e, landed=none) -%}
    {%- set column = '"' ~ e.column ~ '"' if e.column else none -%}
    {%- set quoted = "'''' || " ~ shop_text(e.column, landed) ~ " || ''''" if e.column else none -%}
    {%- if e.rule == 'completeness' -%}
        {%- if landed -%}
        case when {{ shop_text(e.column, landed) }} is null then {{ shop_literal(e.column ~ ' is null') }}
            else {{ shop_literal(e.column ~ ' is null: ') }} || {{ quoted }} || ' did not cast'
        end
        {%- else -%}
        {{ shop_literal(e.column ~ ' is null') }}
        {%- endif -%}
    {%- elif e.rule == 'range' -%}
        case
            {%- if e.get('min') is not none %}
            when {{ column }} < {{ shop_bound(e.min) }} then
                {{ shop_literal(e.column ~ ' ') }} || cast({{ column }} as varchar) || {{ shop_literal(' below min ' ~ e.min) }}
            {%- endif %}
            {%- if e.get('max') is not none %}
            when {{ column }} > {{ shop_bound(e.max) }} then
                {{ shop_literal(e.column ~ ' ') }} || cast({{ column }} as varchar) || {{ shop_literal(' above max ' ~ e.max) }}
            {%- endif %}
        end
    {%- elif e.rule == 'allowed_values' -%}
        {{ shop_literal(e.column ~ ' ') }} || '''' || cast({{ column }} as varchar) || ''''
            || {{ shop_literal(' not in allowed values (' ~ e['values'] | join(', ') ~ ')') }}
    {%- elif e.rule == 'regex' -%}
        {{ shop_literal(e.column ~ ' ') }} || {{ quoted }} || {{ shop_literal(' does not match ' ~ e.pattern) }}
    {%- else -%}
        {%- set message = e.get('message') or ('fails ' ~ e.name) -%}
        {%- if e.column -%}
        {{ shop_literal(e.column ~ ' ') }} || coalesce({{ quoted }}, 'NULL') || {{ shop_literal(' ' ~ message) }}
        {%- else -%}
        {{ shop_literal(message) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The expectations declared on a model (`config.meta.expectations`), checked for the
    fields every rule needs: a name unique in the model, a rule, an action it allows. -#}
{% macro shop_expectations(node, actions=('warn', 'drop')) %}
    {%- set found = node.config.meta.get('expectations', []) -%}
    {%- set names = [] -%}
    {%- for e in found -%}
        {%- if not e.name or not e.rule -%}
            {{ exceptions.raise_compiler_error(node.name ~ ": every expectation needs a name and a rule: " ~ e) }}
        {%- endif -%}
        {%- if e.name in names -%}
            {{ exceptions.raise_compiler_error(node.name ~ ": expectation " ~ e.name ~ " declared twice") }}
        {%- endif -%}
        {%- if e.get('action', 'warn') not in actions -%}
            {{ exceptions.raise_compiler_error(
                node.name ~ ": expectation " ~ e.name ~ " has action " ~ e.action
                ~ "; this layer allows " ~ actions | join(', ')) }}
        {%- endif -%}
        {%- do names.append(e.name) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}

{#- FAIL expectation on a gold model: the rows failing rule `rule` (a blocking dbt test,
    severity error). Arguments are the rule's fields (under a column, `column` is that
    column); `name:` names the test, which is the check's name in Dagster. -#}
{% test shop_expectation(model, rule, column=none, min=none, max=none, values=none, pattern=none, expression=none, message=none, column_name=none) %}
    {%- set e = {'name': 'expectation', 'rule': rule, 'column': column or column_name, 'min': min, 'max': max,
                 'values': values, 'pattern': pattern, 'expression': expression, 'message': message} -%}
select *, {{ shop_reason(e) }} as failure_reason
from {{ model }}
where {{ shop_fails(e) }}
{% endtest %}

{#- WARN check of a silver model: the rules that failed rows in this run's window (drop:
    quarantined, warn: kept), from shop_ops.expectation_log. Dagster adds every rule's
    counts to the check's metadata. -#}
{% test shop_expectations_passed(model, dataset) %}
select rule, action, passed, failed
from shop_ops.expectation_log
where run_id = {{ shop_literal(shop_run_id()) }} and layer = 'silver'
  and dataset = {{ shop_literal(dataset) }} and failed > 0
{% endtest %}
