-- One row per archived page request, from every endpoint's extraction.
{% set endpoints = [
    'contratos', 'contratos_atualizacao', 'contratacoes_publicacao',
    'contratacoes_atualizacao', 'atas', 'atas_atualizacao'] %}

with requests as (
    {% for endpoint in endpoints %}
    select * from {{ source('pncp_raw', endpoint) }} where endpoint = '{{ endpoint }}'
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select
    request_id,
    ingestion_date,
    endpoint,
    nullif(modalidade, 0) as modalidade_id,
    page,
    http_status,
    http_status = 204 as is_empty,
    etag,
    payload_sha256,
    payload_size,
    record_count,
    total_records,
    total_pages,
    attempts,
    attempts - 1 as retries,
    run_id,
    collected_at
from requests
