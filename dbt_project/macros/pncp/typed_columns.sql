{#-
  Typed staging columns from raw VARCHAR leaves. Each spec is [name, expression, type]
  with type one of text, int, bigint, bool, date, timestamp, money. PNCP timestamps carry
  no zone and are Brasília time, so they become TIMESTAMPTZ in America/Sao_Paulo.
  A value present in the payload that does not cast is kept as NULL and its field name is
  listed in `invalid_fields` (flagged by a WARN test; the load never fails on it).
-#}
{% macro pncp_cast(expression, type) -%}
    {%- if type == 'text' -%} nullif({{ pncp_trim(expression) }}, '')
    {%- elif type == 'int' -%} try_cast({{ expression }} as integer)
    {%- elif type == 'bigint' -%} try_cast({{ expression }} as bigint)
    {%- elif type == 'bool' -%} try_cast({{ expression }} as boolean)
    {%- elif type == 'date' -%} try_cast({{ expression }} as date)
    {%- elif type == 'timestamp' -%}
        timezone('America/Sao_Paulo', try_cast({{ expression }} as timestamp))
    {%- elif type == 'money' -%} try_cast({{ expression }} as decimal(18, 2))
    {%- else -%} {{ exceptions.raise_compiler_error("unknown PNCP column type " ~ type) }}
    {%- endif -%}
{%- endmacro %}

{#- `trim(value)` (spaces at either end) without copying the values that have none: a
    plain `trim` copies every string, 2 of the 12 s a 10x month's staging takes. -#}
{% macro pncp_trim(expression) -%}
    if(starts_with({{ expression }}, ' ') or ends_with({{ expression }}, ' '),
        trim({{ expression }}), {{ expression }})
{%- endmacro %}

{% macro pncp_typed_columns(specs) -%}
    {%- for name, expression, type in specs %}
    {{ pncp_cast(expression, type) }} as {{ name }},
    {%- endfor %}
    list_filter([
        {%- for name, expression, type in specs if type != 'text' %}
        case when {{ expression }} is not null and {{ pncp_cast(expression, type) }} is null
            then '{{ name }}' end{% if not loop.last %},{% endif %}
        {%- endfor %}
    ], lambda field: field is not null) as invalid_fields
{%- endmacro %}

{#- The JSON shape for pncp_payload_records: every spec's source path as VARCHAR. -#}
{% macro pncp_shape(paths) -%}
    {%- set shape = {} -%}
    {%- for path in paths -%}
        {%- set parts = path.split('.') -%}
        {%- if parts | length == 1 -%}
            {%- do shape.update({parts[0]: 'VARCHAR'}) -%}
        {%- else -%}
            {%- if parts[0] not in shape -%}{%- do shape.update({parts[0]: {}}) -%}{%- endif -%}
            {%- do shape[parts[0]].update({parts[1]: 'VARCHAR'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(shape) }}
{%- endmacro %}
