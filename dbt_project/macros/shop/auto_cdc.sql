{#-
  AUTO CDC for the shop's dimensions: a change feed applied in sequence order, as SCD
  type 1 or type 2 (Lakeflow's AUTO CDC, on dbt and DuckDB). The model names its silver
  change table, one row per key and sequence (`shop_auto_cdc('customers_changes')`), and
  declares the rest in Lakeflow's vocabulary in its YAML (`config.meta.auto_cdc`):

    keys                       the entity key (also the model's `unique_key`)
    sequence_by                the column that orders a key's changes (never arrival order)
    apply_as_deletes           a SQL boolean: true when the change is a delete
    column_list                the entity's columns the dimension keeps
    stored_as_scd_type         1 (latest state) or 2 (history)
    track_history_column_list  SCD2: the columns whose change opens a new version; a
                               change to any other column updates the version in place
    valid_time                 SCD2: the column that dates a change (valid_from/valid_to)
    version_key                SCD2: the name of the version's key column (`<keys>@<seq>`
                               of its first change; default version_id)
    deletes                    SCD1: `remove` (the row goes) or `mark` (is_deleted, kept)

  Each insert or update carries the entity's full image (an upsert: an update of a key
  never inserted, or an insert of a key that exists, is applied as its image says).

  Incremental by key: a run takes the keys with changes that reached silver since its
  last run (bronze `_batch` above the model's watermark, or rows replayed from the
  quarantine since then), recomputes each such key from ALL its changes (deduplicated by
  key and sequence, ordered by sequence) and replaces the key's rows (delete+insert by
  key). A late or out-of-order change therefore lands where its sequence puts it, a change
  older than what is applied is not lost, and a replayed feed recomputes the same rows:
  the result equals applying the whole feed once, in sequence order, whatever the
  batches. Only the keys touched are read and rewritten.

  Which keys changed comes from the watermarks of macros/shop/incremental.sql; every row a
  run writes carries `_load_id`, so the gold models downstream take in the keys rewritten
  since their last run.
-#}

{#- The model's `auto_cdc` spec, checked: fails the compile naming the model and field. -#}
{% macro shop_cdc_spec(node) %}
    {%- set spec = node.config.meta.get('auto_cdc') -%}
    {%- set where = node.name ~ ': config.meta.auto_cdc' -%}
    {%- if spec is none -%}{{ exceptions.raise_compiler_error(where ~ " is missing") }}{%- endif -%}
    {%- for field in ['keys', 'sequence_by', 'apply_as_deletes', 'column_list', 'stored_as_scd_type'] -%}
        {%- if spec.get(field) is none -%}
            {{ exceptions.raise_compiler_error(where ~ " needs `" ~ field ~ "`") }}
        {%- endif -%}
    {%- endfor -%}
    {%- set unique_key = node.config.get('unique_key') -%}
    {%- set unique_key = [unique_key] if unique_key is string else unique_key -%}
    {%- if unique_key | list != spec['keys'] | list -%}
        {{ exceptions.raise_compiler_error(
            where ~ ".keys " ~ spec['keys'] ~ " must equal the model's unique_key " ~ unique_key) }}
    {%- endif -%}
    {%- set scd = spec.stored_as_scd_type | int -%}
    {%- if scd == 2 -%}
        {%- if spec.get('valid_time') is none -%}
            {{ exceptions.raise_compiler_error(where ~ ": SCD type 2 needs `valid_time`") }}
        {%- endif -%}
        {%- for column in spec.get('track_history_column_list', spec.column_list) -%}
            {%- if column not in spec.column_list -%}
                {{ exceptions.raise_compiler_error(
                    where ~ ".track_history_column_list: " ~ column ~ " is not in column_list") }}
            {%- endif -%}
        {%- endfor -%}
    {%- elif scd == 1 -%}
        {%- if spec.get('deletes', 'remove') not in ('remove', 'mark') -%}
            {{ exceptions.raise_compiler_error(where ~ ".deletes must be remove or mark") }}
        {%- endif -%}
        {%- if spec.get('track_history_column_list') is not none -%}
            {{ exceptions.raise_compiler_error(where ~ ": track_history_column_list needs SCD type 2") }}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(where ~ ".stored_as_scd_type must be 1 or 2") }}
    {%- endif -%}
    {{ return(spec) }}
{% endmacro %}

{#- Body of a dimension model: see the top of this file. `changes_model` names the silver
    change table. -#}
{% macro shop_auto_cdc(changes_model) %}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ shop_ops_tables() }}",
        post_hook=[
            "{{ shop_cdc_remove_deleted() }}",
            "{{ shop_record_marks(silver=['" ~ changes_model ~ "']) }}",
        ],
    ) }}
    {%- set changes = ref(changes_model) %}
-- the changes of {{ changes }}; rows replayed from {{ ref('quarantine') }} are changes too
    {%- if not execute %}
select 1 as placeholder
    {%- else %}
    {%- set spec = shop_cdc_spec(shop_model_node(this.name)) -%}
    {%- set touched = shop_silver_changed(this.name, changes_model, spec['keys'])
        if is_incremental() else none %}
    {%- if spec.stored_as_scd_type | int == 2 %}
{{ shop_scd2(spec, changes, touched) }}
    {%- else %}
{{ shop_scd1(spec, changes, touched) }}
    {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- Post-hook of a dimension: SCD1 with `deletes: remove` writes a deleted key's row as a
    tombstone (so delete+insert replaces its old row), then removes it here. -#}
{% macro shop_cdc_remove_deleted() -%}
    {%- set spec = shop_cdc_spec(shop_model_node(this.name)) if execute else {} -%}
    {%- if spec and spec.stored_as_scd_type | int == 1 and spec.get('deletes', 'remove') == 'remove' -%}
delete from {{ this }} where is_deleted
    {%- else -%}
select 1
    {%- endif -%}
{%- endmacro %}

{#- The changes to apply: those of the touched keys (all keys on a full build), one per
    key and sequence (the first delivered), with the delete flag. -#}
{% macro shop_cdc_changes(spec, changes, touched) -%}
    {%- set keys = spec['keys'] -%}
select
    {%- for k in keys %}
    c."{{ k }}",
    {%- endfor %}
    c."{{ spec.sequence_by }}" as _seq,
    coalesce({{ spec.apply_as_deletes }}, false) as _is_delete,
    {%- if spec.get('valid_time') %}
    c."{{ spec.valid_time }}" as _at,
    {%- endif %}
    {%- for column in spec.column_list %}
    c."{{ column }}",
    {%- endfor %}
    c._batch,
    c._line
from {{ changes }} as c
where c."{{ spec.sequence_by }}" is not null
    {%- for k in keys %} and c."{{ k }}" is not null{% endfor %}
    {%- if touched is not none %}
    and exists (
        select 1 from ({{ touched }}) as touched
        where {% for k in keys %}touched."{{ k }}" = c."{{ k }}"{% if not loop.last %} and {% endif %}{% endfor %}
    )
    {%- endif %}
qualify row_number() over (
    partition by {% for k in keys %}c."{{ k }}", {% endfor %}c."{{ spec.sequence_by }}"
    order by c._batch, c._line) = 1
{%- endmacro %}

{#- SCD type 2. A change opens a version when it is an upsert after nothing, after a
    delete, or with tracked values unlike the previous change's; consecutive upserts that
    only touch untracked columns fold into the open version (which keeps the last one's
    values); a delete closes the open version, a later upsert opens a new one. A version
    runs from its first change's time to the time of the change that closes it (NULL:
    current). Times are the running maximum of `valid_time` in sequence order, so a
    source clock going back never makes intervals overlap, and a change without a time
    takes the time of the change before it (-infinity when none has one). -#}
{% macro shop_scd2(spec, changes, touched) -%}
    {%- set keys = spec['keys'] -%}
    {%- set partition = keys | map('tojson') | join(', ') -%}
    {%- set tracked = spec.get('track_history_column_list', spec.column_list) -%}
with changes as (
    {{ shop_cdc_changes(spec, changes, touched) | indent(4) }}
),

ordered as (
    select
        *,
        coalesce(max(_at) over (
            partition by {{ partition }} order by _seq rows between unbounded preceding and current row
        ), '-infinity'::timestamptz) as _effective_at,
        row({% for c in tracked %}"{{ c }}"{% if not loop.last %}, {% endif %}{% endfor %}) as _tracked
    from changes
),

starts as (
    select
        *,
        not _is_delete and coalesce(
            lag(_is_delete) over by_seq or lag(_tracked) over by_seq is distinct from _tracked,
            true
        ) as _starts
    from ordered
    window by_seq as (partition by {{ partition }} order by _seq)
),

numbered as (
    select
        *,
        sum(_starts::integer) over (
            partition by {{ partition }} order by _seq rows between unbounded preceding and current row
        ) as _version,
        lead(_seq) over by_seq as _next_seq,
        lead(_effective_at) over by_seq as _next_at,
        lead(_is_delete) over by_seq as _next_is_delete,
        lead(_starts) over by_seq as _next_starts
    from starts
    window by_seq as (partition by {{ partition }} order by _seq)
),

upserts as (
    select
        *,
        first_value(_seq) over by_version as _start_seq,
        first_value(_effective_at) over by_version as _start_at
    from numbered
    where not _is_delete and _version > 0
    window by_version as (partition by {{ partition }}, _version order by _seq)
)

-- each version's last change: it holds the version's values (tracked ones never change
-- inside a version; untracked ones are the latest)
select
    {% for k in keys %}cast("{{ k }}" as varchar) || {% if not loop.last %}':' || {% endif %}{% endfor %}'@' || cast(_start_seq as varchar)
        as {{ spec.get('version_key', 'version_id') }},
    {%- for k in keys %}
    "{{ k }}",
    {%- endfor %}
    _version::integer as version,
    {%- for column in spec.column_list %}
    "{{ column }}",
    {%- endfor %}
    _start_at as valid_from,
    _next_at as valid_to,
    _next_seq is null as is_current,
    coalesce(_next_is_delete, false) as closed_by_delete,
    _start_seq as start_seq,
    _next_seq as end_seq,
    {{ shop_load_id() }}::bigint as _load_id
from upserts
where _next_seq is null or _next_is_delete or _next_starts
{%- endmacro %}

{#- SCD type 1: a key's latest change by sequence decides: an upsert is the row, a delete
    removes it (`deletes: remove`) or marks it deleted, keeping the last upsert's values
    (`deletes: mark`). A key with no upsert at all has no row. -#}
{% macro shop_scd1(spec, changes, touched) -%}
    {%- set keys = spec['keys'] -%}
    {%- set partition = keys | map('tojson') | join(', ') -%}
with changes as (
    {{ shop_cdc_changes(spec, changes, touched) | indent(4) }}
),

latest as (
    select * from changes
    qualify row_number() over (partition by {{ partition }} order by _seq desc) = 1
),

last_upsert as (
    select * from changes
    where not _is_delete
    qualify row_number() over (partition by {{ partition }} order by _seq desc) = 1
)

select
    {%- for k in keys %}
    last_upsert."{{ k }}",
    {%- endfor %}
    {%- for column in spec.column_list %}
    last_upsert."{{ column }}",
    {%- endfor %}
    latest._is_delete as is_deleted,
    {%- if spec.get('valid_time') %}
    case when latest._is_delete then latest._at end as deleted_at,
    latest._at as changed_at,
    {%- endif %}
    latest._seq as seq,
    {{ shop_load_id() }}::bigint as _load_id
from last_upsert
join latest using ({{ partition }})
{%- endmacro %}
