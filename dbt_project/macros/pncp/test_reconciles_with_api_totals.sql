{#-
  Row-count reconciliation of a staging model against the API, for each archived day in
  the window:
  - the day's archived versions (`versions`, one row per record of every page) = PNCP's
    `totalRegistros` for the day's slices (page 1 of each): no record lost or doubled
    between the API and the typed rows;
  - staging rows of the day = that total minus the versions staging dropped (versions
    superseded by a newer one in the window). The superseded versions are counted here by
    an aggregate over the versions, independent of staging's window, so a dropped or kept
    twice record shows up as the day it happened on.
  Fails with one row per diverging day.
-#}
{% test pncp_reconciles_with_api_totals(model, versions, endpoints, key) %}
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

window_versions as (
    select ingestion_date, ingestion_month, {{ key }} as record_key, data_atualizacao
    from {{ versions }}
    where ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
),

archived as (
    select
        ingestion_date,
        count(*) as archived_versions,
        count(record_key) as keyed_versions
    from window_versions
    group by ingestion_date
),

{#- The day of each record's latest version in its month, ranked as staging ranks them
    (newest dataAtualizacao, nulls last, then the latest day; versions tied on both share
    their day). An aggregate, not a window: only the day is needed, not the version's row. #}
latest as (
    select arg_max(
        ingestion_date,
        (data_atualizacao is not null, coalesce(data_atualizacao, 'epoch'::timestamptz),
            ingestion_date)
    ) as ingestion_date
    from window_versions
    where record_key is not null
    group by record_key, ingestion_month
),

kept as (
    select ingestion_date, count(*) as kept_versions from latest group by ingestion_date
),

staged as (
    select ingestion_date, count(*) as staging_rows
    from {{ model }}
    where ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    group by ingestion_date
),

days as (
    select
        api.ingestion_date,
        api.api_records,
        coalesce(archived.archived_versions, 0) as archived_versions,
        coalesce(archived.keyed_versions, 0) - coalesce(kept.kept_versions, 0) as superseded,
        coalesce(staged.staging_rows, 0) as staging_rows
    from api
    left join archived using (ingestion_date)
    left join kept using (ingestion_date)
    left join staged using (ingestion_date)
)

select *
from days
where archived_versions <> api_records or staging_rows <> api_records - superseded
{% endtest %}

{#- WARN test: records whose fields did not cast (odd formats); they load with NULLs. -#}
{% test pncp_no_invalid_fields(model, column_name) %}
select * from {{ model }} where len({{ column_name }}) > 0
{% endtest %}
