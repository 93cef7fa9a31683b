{#-
  Row-count reconciliation of a staging model against the API: for each archived day in
  the window, staging rows of that day = PNCP's `totalRegistros` for the day's slices
  (page 1 of each) minus the duplicates staging dropped (versions of a record superseded
  by a newer one in the window). The duplicates are counted from a key-only parse of the
  payloads, independent of staging's typing, so a lost or doubled record shows up as the
  day it happened on. Fails with one row per diverging day.
-#}
{% test pncp_reconciles_with_api_totals(model, endpoints, key_field) %}
with api_totals as (
    {% for endpoint in endpoints %}
    select ingestion_date, total_records
    from {{ source('pncp_raw', endpoint) }}
    where endpoint = '{{ endpoint }}' and page = 1
      and ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

api as (
    select ingestion_date, sum(total_records) as api_records
    from api_totals
    group by ingestion_date
),

{#- Materialized: both CTEs below read it, and the payloads are parsed once. #}
versions as materialized (
    select
        ingestion_date,
        nullif(trim(record.{{ key_field }}), '') as record_key,
        try_cast(record.dataAtualizacao as timestamp) as updated_at
    from ({{ pncp_payload_records(endpoints, {key_field: 'VARCHAR', 'dataAtualizacao': 'VARCHAR'}) }})
),

{#- The day of each record's latest version, ranked as staging ranks them (newest
    dataAtualizacao, nulls last, then the latest day; versions tied on both share their
    day). An aggregate, not a window: only the day is needed, not the version's row. #}
latest as (
    select arg_max(
        ingestion_date,
        (updated_at is not null, coalesce(updated_at, 'epoch'::timestamp), ingestion_date)
    ) as ingestion_date
    from versions
    where record_key is not null
    group by record_key
),

duplicates as (
    select ingestion_date, keyed.versions - coalesce(kept.versions, 0) as superseded
    from (
        select ingestion_date, count(*) as versions
        from versions
        where record_key is not null
        group by ingestion_date
    ) as keyed
    left join (
        select ingestion_date, count(*) as versions from latest group by ingestion_date
    ) as kept using (ingestion_date)
),

staged as (
    select ingestion_date, count(*) as staging_rows
    from {{ model }}
    where ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    group by ingestion_date
)

select
    api.ingestion_date,
    api.api_records,
    coalesce(duplicates.superseded, 0) as superseded,
    coalesce(staged.staging_rows, 0) as staging_rows
from api
left join duplicates using (ingestion_date)
left join staged using (ingestion_date)
where coalesce(staged.staging_rows, 0)
    <> api.api_records - coalesce(duplicates.superseded, 0)
{% endtest %}

{#- WARN test: records whose fields did not cast (odd formats); they load with NULLs. -#}
{% test pncp_no_invalid_fields(model, column_name) %}
select * from {{ model }} where len({{ column_name }}) > 0
{% endtest %}
