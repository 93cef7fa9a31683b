{#-
  PNCP staging parses the payloads once:

  - `pncp_versions_model`: every record version archived in the window (the page feeds and
    their `atualizacao` feeds), typed, in an incremental table by month;
  - `pncp_flag_latest_versions` (its post-hook) marks the latest version of each record in
    its month: by `key`, newest `dataAtualizacao`; ties go to the latest archived day, then
    a fixed page order, so the result is deterministic;
  - the staging model is a view of the flagged rows, plus any record without its key, so
    the key's ERROR test sees it.

  The ranking is a window over the narrow ranking columns only, written back as a flag:
  ranking the typed rows themselves holds a month of every column in the window operator
  (2.4 GB and slower for a 10x month), and copying the latest rows into a second table
  costs another write of the month.
-#}
{#- The body and config of a versions model: `endpoints` are the family's feeds, `key` its
    record key column. The config is part of the shape it builds (an incremental table by
    the `ingestion_month` it adds, flagged by the post-hook), so it is set here, once for
    the three families. -#}
{% macro pncp_versions_model(endpoints, key, specs) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ingestion_month',
        on_schema_change='fail',
        post_hook="{{ pncp_flag_latest_versions('" ~ key ~ "') }}",
    ) }}
    {%- set shape = pncp_shape(specs | map(attribute=1) | map('replace', 'record.', '') | list) -%}
select
    {{ pncp_typed_columns(specs) }},
    endpoint as source_endpoint,
    ingestion_date,
    date_trunc('month', ingestion_date)::date as ingestion_month,
    request_id as source_request_id,
    payload_sha256 as source_payload_sha256,
    page as source_page,
    record_position as source_position,
    collected_at,
    false as is_latest_version
from ({{ pncp_payload_records(endpoints, shape) }})
{%- endmacro %}


{#- Post-hook of a versions model: flag the latest version of each key in its month,
    among the rows of the window (rebuilt by this run, so they all start unflagged). -#}
{% macro pncp_flag_latest_versions(key) -%}
update {{ this }} as versions
set is_latest_version = true
from (
    select source_request_id, source_position
    from {{ this }}
    where {{ key }} is not null
      and ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    qualify {{ pncp_is_latest_version(key ~ ', ingestion_month') }}
) as latest
where versions.source_request_id = latest.source_request_id
  and versions.source_position = latest.source_position
{%- endmacro %}


{#- The latest version of each `key` among the rows of `relation` that match `where`. -#}
{% macro pncp_latest(relation, key, where='true') -%}
with candidates as not materialized (
    select * from {{ relation }} where {{ where }}
),

latest as (
    select source_request_id, source_position
    from candidates
    where {{ key }} is not null
    qualify {{ pncp_is_latest_version(key) }}
)

select candidates.*
from candidates
left join latest
    on latest.source_request_id = candidates.source_request_id
    and latest.source_position = candidates.source_position
where latest.source_request_id is not null or candidates.{{ key }} is null
{%- endmacro %}


{#- True on the latest version within each `partition_by` group: newest `dataAtualizacao`
    (nulls last), then the latest archived day, then a fixed page order. The one ranking
    of versions, shared by staging (per month) and the current views (across months). -#}
{% macro pncp_is_latest_version(partition_by) -%}
    row_number() over (
        partition by {{ partition_by }}
        order by data_atualizacao desc nulls last, ingestion_date desc,
            source_endpoint, source_page, source_position
    ) = 1
{%- endmacro %}
