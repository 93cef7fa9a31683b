{#-
  Silver of the shop medallion: bronze rows typed, checked, deduplicated, quarantined.

  Each order-stream source has three parts, all declared once in the silver model's YAML
  (`config.meta.shop`: source, event_time, typed columns; `config.meta.expectations`):

  - `<model>_checked` (table, rebuilt every run): the bronze rows this run takes in —
    those with `_batch` above what BOTH consumers (the silver model and the quarantine)
    have already taken (`shop_ops.silver_watermarks`), plus the quarantined rows named by
    pending replay requests — typed, every expectation evaluated, the drop failures with
    their first rule, readable reasons and the landed record as JSON. Its post-hooks
    write the run's counts per rule to `shop_ops.expectation_log`;
  - `<model>` (incremental, delete+insert by its record key): the rows that pass every
    drop rule, one per key, the first by (`_batch`, `_line`) — also across runs: a row
    replaces a kept one only when it comes earlier (a replayed row can). The key is
    `event_id` for the order-stream sources; a change feed's is its entity key and `seq`
    (`shop_silver(..., key=['customer_id', 'seq'])`): a change delivered twice is one row;
  - `quarantine` (one incremental model for every source, after the silver models): the
    rows failing a drop rule, once per bronze row; replayed rows that pass now become
    `replayed`, those that still fail stay (with their current rule and reason).

  Each consumer appends the highest `_batch` it took in to `shop_ops.silver_watermarks`
  in its own transaction (a post-hook), so a consumer that failed, or was not selected,
  is given the same rows again next run; both consumers are idempotent (an event or a
  quarantine row already kept is not added twice). An incremental run therefore ends
  where a full rebuild (`dbt build --full-refresh`) starts from, for the rules of the day.
  Everything is set-based: one scan of the new bronze rows, hash joins on the key.
-#}

{#- Provenance columns of every bronze table (the contract), kept in silver. -#}
{% macro shop_provenance() %}
    {{ return(['_rescued_data', '_source_file', '_file_version', '_line', '_ingested_at', '_batch', '_run_id']) }}
{% endmacro %}

{% macro shop_provenance_types() %}
    {{ return({'_rescued_data': 'varchar', '_source_file': 'varchar', '_file_version': 'integer',
               '_line': 'bigint', '_ingested_at': 'timestamptz', '_batch': 'bigint', '_run_id': 'varchar'}) }}
{% endmacro %}

{#- The silver model `name` from the manifest (its YAML holds the spec). -#}
{% macro shop_silver_node(name) %}
    {#- dbt renders hooks while parsing, before the manifest exists: a stand-in then -#}
    {%- if not execute -%}
        {{ return({'name': name, 'config': {'meta': {'shop': {'source': name, 'columns': {}}, 'expectations': []}}}) }}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
    {%- if node is none or 'shop' not in node.config.meta -%}
        {{ exceptions.raise_compiler_error("no shop silver model " ~ name ~ " with config.meta.shop") }}
    {%- endif -%}
    {{ return(node) }}
{% endmacro %}

{#- The record key of silver model `name` (its `unique_key`): a list of columns. -#}
{% macro shop_record_key(name) %}
    {%- set key = shop_silver_node(name).config.get('unique_key') or 'event_id' -%}
    {{ return([key] if key is string else key | list) }}
{% endmacro %}

{#- The record key as one text (NULL when a part is missing): `event_id`, or the parts
    joined by ':' (`C000001:3`); the quarantine names a row's record by it. -#}
{% macro shop_record_key_text(key) -%}
    {%- if key | length == 1 -%}cast("{{ key[0] }}" as varchar)
    {%- else -%}{% for k in key %}cast("{{ k }}" as varchar){% if not loop.last %} || ':' || {% endif %}{% endfor %}
    {%- endif -%}
{%- endmacro %}

{#- Typed columns of a spec as [(name, type, landed names)], in declared order. -#}
{% macro shop_typed_columns(spec) %}
    {%- set found = [] -%}
    {%- for name, declared in spec.columns.items() -%}
        {%- if declared is mapping -%}
            {%- do found.append((name, declared.type, [name] + declared.get('landed_as', []))) -%}
        {%- else -%}
            {%- do found.append((name, declared, [name])) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}

{#- Columns of the silver table, in order: typed, event_date, provenance. -#}
{% macro shop_silver_columns(spec) %}
    {%- set names = shop_typed_columns(spec) | map(attribute=0) | list -%}
    {%- if spec.get('event_time') -%}{%- do names.append('event_date') -%}{%- endif -%}
    {{ return(names + shop_provenance()) }}
{% endmacro %}

{#- A typed value from its landed text. Text stays text (an empty string is missing). -#}
{% macro shop_cast(text, type) -%}
    {%- if type | lower in ('varchar', 'text', 'string') -%} {{ text }}
    {%- else -%} try_cast({{ text }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- The landed text of a column: the first of its landed names present in the row, as a
    bronze column (one added by schema evolution too) or a field of `_rescued_data`. -#}
{% macro shop_landed_text(names, bronze_columns) -%}
    {%- set parts = [] -%}
    {%- for name in names -%}
        {%- if name in bronze_columns -%}{%- do parts.append('b."' ~ name ~ '"') -%}{%- endif -%}
        {%- if not loop.first and '_rescued_data' in bronze_columns -%}
            {%- do parts.append("json_extract_string(b._rescued_data, '$.\"" ~ name ~ "\"')") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%} cast(null as varchar)
    {%- elif parts | length == 1 -%} nullif({{ parts[0] }}, '')
    {%- else -%} nullif(coalesce({{ parts | join(', ') }}), '')
    {%- endif -%}
{%- endmacro %}

{#- The lowest `_batch` either consumer of `source_name` still has to take in (-1: all). -#}
{% macro shop_watermark(consumer, source_name) %}
    {%- if flags.FULL_REFRESH -%}{{ return(-1) }}{%- endif -%}
    {%- for name in [consumer, 'quarantine'] -%}
        {%- if adapter.get_relation(this.database, this.schema, name) is none -%}{{ return(-1) }}{%- endif -%}
    {%- endfor -%}
    {%- if adapter.get_relation(this.database, 'shop_ops', 'silver_watermarks') is none -%}{{ return(-1) }}{%- endif -%}
    {%- set query -%}
        select coalesce(min(taken), -1) from (
            select consumers.consumer, max(marks.batch) as taken
            from (values ({{ shop_literal(consumer) }}), ('quarantine')) as consumers(consumer)
            left join shop_ops.silver_watermarks as marks
                on marks.consumer = consumers.consumer and marks.source = {{ shop_literal(source_name) }}
            group by consumers.consumer
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{% endmacro %}

{#- Rules named by pending replay requests for `source_name`, when this run can apply them:
    the checked model's silver model and the quarantine are built in the same invocation. -#}
{% macro shop_replayed_rules(consumer, source_name, requests) %}
    {%- set none_found = [] -%}
    {%- if flags.FULL_REFRESH -%}{{ return(none_found) }}{%- endif -%}
    {%- for name in [consumer, 'quarantine'] -%}
        {%- if ('model.' ~ project_name ~ '.' ~ name) not in selected_resources -%}{{ return(none_found) }}{%- endif -%}
        {%- if adapter.get_relation(this.database, this.schema, name) is none -%}{{ return(none_found) }}{%- endif -%}
    {%- endfor -%}
    {%- if adapter.get_relation(requests.database, requests.schema, requests.identifier) is none -%}{{ return(none_found) }}{%- endif -%}
    {%- set query -%}
        select distinct rule from {{ requests }}
        where status = 'pending' and (source is null or source = {{ shop_literal(source_name) }})
          and requested_at <= {{ shop_literal(run_started_at.isoformat()) }}::timestamptz
        order by rule
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{% endmacro %}

{#- Body of `<model>_checked`: see the top of this file. `bronze` is the source relation. -#}
{% macro shop_checked(silver, bronze) %}
    {%- set requests = source('shop_ops', 'replay_requests') -%}
    {{ config(
        materialized='table',
        pre_hook="{{ shop_ops_tables() }}",
        post_hook=["{{ shop_log_delete('" ~ silver ~ "') }}", "{{ shop_log_insert('" ~ silver ~ "') }}"],
    ) }}
    {%- if not execute -%}
select 1 as placeholder
    {%- else -%}
    {%- set node = shop_silver_node(silver) -%}
    {%- set spec = node.config.meta.shop -%}
    {%- set typed = shop_typed_columns(spec) -%}
    {%- set expectations = shop_expectations(node) -%}
    {%- set provenance = shop_provenance_types() -%}
    {%- set found = adapter.get_relation(bronze.database, bronze.schema, bronze.identifier) -%}
    {%- set bronze_columns = [] -%}
    {%- if found is not none -%}
        {%- for column in adapter.get_columns_in_relation(found) -%}
            {%- do bronze_columns.append(column.name) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set data_columns = bronze_columns | reject('in', provenance.keys() | list) | list
        if found is not none else typed | map(attribute=0) | list -%}
    {%- set watermark = shop_watermark(silver, spec.source) -%}
    {%- set replayed = shop_replayed_rules(silver, spec.source, requests) if found is not none else [] -%}
    {%- set drops = expectations | selectattr('action', 'equalto', 'drop') | list -%}
with bronze as (
    {%- if found is none %}
    -- {{ bronze }} does not exist yet: nothing has landed for {{ spec.source }}
    select
        {%- for name in data_columns %} cast(null as varchar) as "{{ name }}",{% endfor %}
        {%- for name, type in provenance.items() %} cast(null as {{ type }}) as {{ name }},{% endfor %}
        false as _is_replay
    where false
    {%- else %}
    select b.*, false as _is_replay from {{ bronze }} as b where b._batch > {{ watermark }}
    {%- if replayed %}
    union all by name
    -- quarantined rows of the rules named by pending replay requests, evaluated again
    select b.*, true as _is_replay from {{ bronze }} as b
    where b._batch <= {{ watermark }} and exists (
        select 1 from {{ this.schema }}.quarantine as q
        where q.source = {{ shop_literal(spec.source) }} and q.status = 'quarantined'
          and list_has_any(q.failed_rules, [{% for r in replayed %}{{ shop_literal(r) }}{% if not loop.last %}, {% endif %}{% endfor %}])
          and q._batch = b._batch and q.line = b._line
    )
    {%- endif %}
    {%- endif %}
),

mapped as (
    select
        struct_pack(
            {%- for name, type, names in typed %}
            "{{ name }}" := {{ shop_landed_text(names, bronze_columns if found is not none else data_columns) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as landed,
        struct_pack(
            {%- for name in data_columns %}
            "{{ name }}" := b."{{ name }}",
            {%- endfor %}
            _rescued_data := try_cast(b._rescued_data as json)
        ) as _landed_record,
        {%- for name in provenance %}
        b.{{ name }},
        {%- endfor %}
        b._is_replay
    from bronze as b
),

typed as (
    select
        {%- for name, type, names in typed %}
        {{ shop_cast('landed."' ~ name ~ '"', type) }} as "{{ name }}",
        {%- endfor %}
        * exclude (_is_replay),
        _is_replay
    from mapped
),

evaluated as (
    select
        *
        {%- if spec.get('event_time') %},
        cast(timezone('UTC', "{{ spec.event_time }}") as date) as event_date
        {%- endif %}
        {%- for e in expectations %},
        {{ shop_fails(e, landed='landed') }} as _fails_{{ loop.index }}
        {%- endfor %}
    from typed
)

select
    {%- for name in shop_silver_columns(spec) %}
    "{{ name }}",
    {%- endfor %}
    {{ shop_record_key_text(shop_record_key(silver)) }} as _record_key,
    _is_replay,
    list_filter([
        {%- for e in expectations %}
        case when _fails_{{ loop.index }} then {{ shop_literal(e.name) }} end{% if not loop.last %},{% endif %}
        {%- endfor %}
    ], lambda rule: rule is not null)::varchar[] as _failed_rules,
    {%- set drop_flags = [] -%}
    {#- loop.index of the whole list: a filtered loop would count only the drop rules -#}
    {%- for e in expectations -%}{%- if e.action == 'drop' -%}{%- do drop_flags.append('_fails_' ~ loop.index) -%}{%- endif -%}{%- endfor -%}
    {%- set dropped = '(' ~ (drop_flags | join(' or ') if drop_flags else 'false') ~ ')' %}
    {{ dropped }} as _dropped,
    case when {{ dropped }} then list_filter([
        {%- for e in expectations %}{% if e.action == 'drop' %}
        case when _fails_{{ loop.index }} then {{ shop_literal(e.name) }} end,
        {%- endif %}{% endfor %}
        cast(null as varchar)
    ], lambda rule: rule is not null)[1] end as _rule,
    case when {{ dropped }} then array_to_string(list_filter([
        {%- for e in expectations %}{% if e.action == 'drop' %}
        case when _fails_{{ loop.index }} then {{ shop_reason(e, landed='landed') }} end,
        {%- endif %}{% endfor %}
        cast(null as varchar)
    ], lambda reason: reason is not null), '; ') end as _reason,
    case when {{ dropped }} then to_json(_landed_record) end as _record
from evaluated
    {%- endif -%}
{% endmacro %}

{#- The checked window's counts per rule, into the expectation log (replacing a retried
    step's rows of the same run). Rules with nothing to evaluate are logged with zeros. -#}
{% macro shop_log_delete(silver) -%}
delete from shop_ops.expectation_log
where run_id = {{ shop_literal(shop_run_id()) }} and layer = 'silver' and dataset = {{ shop_literal(silver) }}
{%- endmacro %}

{% macro shop_log_insert(silver) -%}
    {%- set expectations = shop_expectations(shop_silver_node(silver)) -%}
    {%- if expectations -%}
insert into shop_ops.expectation_log
    (run_id, recorded_at, layer, dataset, rule, action, passed, failed)
with evaluated as (select count(*) as n from {{ this }}),
failures as (
    select rule, count(*) as failed
    from (select unnest(_failed_rules) as rule from {{ this }})
    group by rule
)
select
    {{ shop_literal(shop_run_id()) }}, current_timestamp, 'silver', {{ shop_literal(silver) }},
    rules.rule, rules.action, evaluated.n - coalesce(failures.failed, 0), coalesce(failures.failed, 0)
from (values
    {%- for e in expectations %}
    ({{ shop_literal(e.name) }}, {{ shop_literal(e.get('action', 'warn')) }}){% if not loop.last %},{% endif %}
    {%- endfor %}
) as rules(rule, action)
cross join evaluated
left join failures on failures.rule = rules.rule
    {%- else -%}
select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of a consumer: the highest `_batch` of the window it took in from `checked`. -#}
{% macro shop_consumed(consumer, source_name, checked) -%}
insert into shop_ops.silver_watermarks (consumer, source, batch, run_id, recorded_at)
select {{ shop_literal(consumer) }}, {{ shop_literal(source_name) }}, max(_batch),
    {{ shop_literal(shop_run_id()) }}, current_timestamp
from {{ checked }}
where not _is_replay
having max(_batch) is not null
{%- endmacro %}

{#- Body of a silver model: the passing rows of its checked window, one per record key
    (`key`: `event_id`, or a change feed's entity key and sequence). -#}
{% macro shop_silver(checked, key='event_id') %}
    {{ config(
        incremental_strategy='delete+insert',
        unique_key=key,
        post_hook="{{ shop_consumed(this.name, shop_silver_node(this.name).config.meta.shop.source, ref('" ~ this.name ~ "_checked')) }}",
    ) }}
    {%- if not execute -%}
select 1 as placeholder
    {%- else -%}
    {%- set columns = shop_silver_columns(shop_silver_node(this.name).config.meta.shop) -%}
    {%- set keys = [key] if key is string else key -%}
with candidates as (
    select {% for name in columns %}"{{ name }}"{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ checked }}
    where not _dropped
    qualify row_number() over (
        partition by {% for k in keys %}"{{ k }}"{% if not loop.last %}, {% endif %}{% endfor %}
        order by _batch, _line) = 1
)

select candidates.*
from candidates
    {%- if is_incremental() %}
-- a record already kept stays, unless this row comes before it (a replayed row may)
left join (
    select {% for k in keys %}"{{ k }}", {% endfor %}_batch, _line from {{ this }}
) as kept
    on {% for k in keys %}kept."{{ k }}" = candidates."{{ k }}"{% if not loop.last %} and {% endif %}{% endfor %}
where kept."{{ keys[0] }}" is null
    or candidates._batch < kept._batch
    or (candidates._batch = kept._batch and candidates._line < kept._line)
    {%- endif %}
    {%- endif -%}
{% endmacro %}

{#- Body of the quarantine: `silver` names the silver models (their checked models feed it). -#}
{% macro shop_quarantine(silver) %}
    {%- set hooks = [] -%}
    {%- for name in silver -%}
        {%- do hooks.append("{{ shop_consumed('quarantine', shop_silver_node('" ~ name ~ "').config.meta.shop.source, ref('" ~ name ~ "_checked')) }}") -%}
    {%- endfor -%}
    {%- do hooks.append("{{ shop_replays_done(" ~ silver ~ ") }}") -%}
    {{ config(
        incremental_strategy='delete+insert',
        unique_key='quarantine_id',
        post_hook=hooks,
    ) }}
    {#- Built after the silver models: a replayed row is marked `replayed` only once its
        silver model has taken it in (a failed silver model skips the quarantine). -#}
    {%- for name in silver %}
-- depends on {{ ref(name) }}
    {%- endfor %}
    {%- set run_id = shop_literal(shop_run_id()) %}
with checked as (
    {%- for name in silver %}
    {%- set source_name = shop_silver_node(name).config.meta.shop.source if execute else name %}
    select
        {{ shop_literal(source_name) }} || ':' || _batch || ':' || _line as quarantine_id,
        {{ shop_literal(source_name) }} as source,
        _record_key as event_id, _rule, _reason, _failed_rules, _source_file, _file_version,
        _line, _batch,
        _record, _dropped, _is_replay
    from {{ ref(name ~ '_checked') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    checked.quarantine_id,
    checked.source,
    checked._rule as rule,
    checked._reason as reason,
    checked._source_file as source_file,
    checked._file_version as file_version,
    checked._line as line,
    checked._record as record,
    checked._batch,
    checked.event_id,
    checked._failed_rules as failed_rules,
    {%- if is_incremental() %}
    coalesce(kept.quarantined_run_id, {{ run_id }}) as quarantined_run_id,
    coalesce(kept.quarantined_at, current_timestamp) as quarantined_at,
    {%- else %}
    {{ run_id }} as quarantined_run_id,
    current_timestamp as quarantined_at,
    {%- endif %}
    'quarantined' as status,
    cast(null as timestamptz) as replayed_at,
    cast(null as varchar) as replayed_run_id
from checked
{%- if is_incremental() %}
left join {{ this }} as kept on kept.quarantine_id = checked.quarantine_id
-- new rows; a replayed row that still fails stays, with its current rule and reason
where checked._dropped and (kept.quarantine_id is null or (checked._is_replay and kept.status = 'quarantined'))

union all

-- replayed rows that pass now: in silver since this run
select
    kept.quarantine_id, kept.source, kept.rule, kept.reason, kept.source_file,
    kept.file_version, kept.line, kept.record, kept._batch, kept.event_id, kept.failed_rules,
    kept.quarantined_run_id, kept.quarantined_at,
    'replayed' as status, current_timestamp as replayed_at, {{ run_id }} as replayed_run_id
from {{ this }} as kept
join checked on checked.quarantine_id = kept.quarantine_id
where checked._is_replay and not checked._dropped and kept.status = 'quarantined'
{%- else %}
where checked._dropped
{%- endif %}
{% endmacro %}

{#- Post-hook of the quarantine: the replay requests this run applied are done. A source's
    requests apply when its checked and silver models ran in this invocation. -#}
{% macro shop_replays_done(silver) -%}
    {%- set applied = [] -%}
    {%- for name in silver -%}
        {%- if ('model.' ~ project_name ~ '.' ~ name) in selected_resources
              and ('model.' ~ project_name ~ '.' ~ name ~ '_checked') in selected_resources -%}
            {%- do applied.append(shop_silver_node(name).config.meta.shop.source) -%}
        {%- endif -%}
    {%- endfor -%}
update shop_ops.replay_requests
set status = 'done', run_id = {{ shop_literal(shop_run_id()) }}
where status = 'pending'
  and requested_at <= {{ shop_literal(run_started_at.isoformat()) }}::timestamptz
  and (
    {%- if applied %}
    source in ({% for s in applied %}{{ shop_literal(s) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else %}
    false
    {%- endif %}
    {%- if applied | length == silver | length %} or source is null{% endif %}
  )
{%- endmacro %}
