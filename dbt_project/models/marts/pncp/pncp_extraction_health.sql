-- Extraction health per day and endpoint: requests, records, bytes, retries, duplicate
-- payloads, and pages that failed (still open or resolved by a later run).
{{ config(unique_key='ingestion_month') }}

with requests as (
    select
        ingestion_date,
        endpoint,
        count(*) as requests,
        count(*) filter (where is_empty) as empty_pages,
        sum(record_count) as records,
        sum(payload_size) as bytes,
        sum(retries) as retries,
        count(payload_sha256) - count(distinct payload_sha256) as duplicate_payloads,
        min(collected_at) as first_collected_at,
        max(collected_at) as last_collected_at
    from {{ ref('stg_pncp__api_requests') }}
    where ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    group by ingestion_date, endpoint
),

failures as (
    select
        ingestion_date,
        endpoint,
        count(*) filter (where not resolved) as failed_pages_open,
        count(*) filter (where resolved) as failed_pages_resolved
    from {{ source('pncp_meta', 'failed_requests') }}
    where ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
    group by ingestion_date, endpoint
)

select
    date_trunc('month', ingestion_date)::date as ingestion_month,
    ingestion_date,
    endpoint,
    coalesce(requests.requests, 0) as requests,
    coalesce(requests.empty_pages, 0) as empty_pages,
    coalesce(requests.records, 0) as records,
    coalesce(requests.bytes, 0) as bytes,
    coalesce(requests.retries, 0) as retries,
    coalesce(requests.duplicate_payloads, 0) as duplicate_payloads,
    coalesce(failures.failed_pages_open, 0) as failed_pages_open,
    coalesce(failures.failed_pages_resolved, 0) as failed_pages_resolved,
    requests.first_collected_at,
    requests.last_collected_at
from requests
full outer join failures using (ingestion_date, endpoint)
order by ingestion_date, endpoint
