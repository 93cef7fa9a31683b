{#-
  PNCP staging in two steps, so the payloads are parsed once:

  - `pncp_versions_model`: every record version archived in the window (the page feeds and
    their `atualizacao` feeds), typed. One parse of the window's zstd bodies.
  - `pncp_latest`: the latest version of each record (by `key`, newest `dataAtualizacao`;
    ties go to the latest archived day, then a fixed page order, so the result is
    deterministic). A record without its key is kept, so the key's ERROR test sees it.

  The latest versions are picked by a window over the narrow ranking columns only and
  joined back to the wide rows: ranking the typed rows themselves holds a month of every
  column in the window operator (2.4 GB and slower for a 10x month).
-#}
{% macro pncp_versions_model(endpoints, specs) -%}
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
    collected_at
from ({{ pncp_payload_records(endpoints, shape) }})
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
    qualify row_number() over (
        partition by {{ key }}
        order by data_atualizacao desc nulls last, ingestion_date desc,
            source_endpoint, source_page, source_position
    ) = 1
)

select candidates.*
from candidates
left join latest
    on latest.source_request_id = candidates.source_request_id
    and latest.source_position = candidates.source_position
where latest.source_request_id is not null or candidates.{{ key }} is null
{%- endmacro %}
