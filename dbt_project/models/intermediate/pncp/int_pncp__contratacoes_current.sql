-- Every procurement's latest version across all archived months.
{{ config(materialized='view') }}

select *
from {{ ref('stg_pncp__contratacoes') }}
where numero_controle_pncp is not null
qualify row_number() over (
    partition by numero_controle_pncp
    order by data_atualizacao desc nulls last, ingestion_date desc,
        source_endpoint, source_page, source_position
) = 1
