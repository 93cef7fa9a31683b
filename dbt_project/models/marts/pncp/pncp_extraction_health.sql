-- Extraction health per day and endpoint: volume, retries, duplicate payloads.
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
group by ingestion_date, endpoint
