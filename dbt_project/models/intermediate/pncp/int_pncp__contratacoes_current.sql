-- Every procurement's latest version across all archived months.
{{ config(materialized='view') }}

{{ pncp_latest(
    ref('stg_pncp__contratacoes'),
    key='numero_controle_pncp',
    where='numero_controle_pncp is not null',
) }}
