-- Public bodies (orgaoEntidade), from contracts, procurements and minutes; the latest
-- name and codes win. Rebuilt whole: a few thousand rows, always consistent.
with mentions as (
    select orgao_cnpj, orgao_razao_social, orgao_poder_id, orgao_esfera_id, data_atualizacao
    from {{ ref('stg_pncp__contratos') }}
    union all
    select orgao_cnpj, orgao_razao_social, orgao_poder_id, orgao_esfera_id, data_atualizacao
    from {{ ref('stg_pncp__contratacoes') }}
    union all
    select orgao_cnpj, orgao_razao_social, null, null, data_atualizacao
    from {{ ref('stg_pncp__atas') }}
)

select
    md5('orgao|' || orgao_cnpj) as orgao_key,
    orgao_cnpj,
    arg_max(orgao_razao_social, data_atualizacao) as razao_social,
    arg_max(orgao_poder_id, data_atualizacao)
        filter (where orgao_poder_id is not null) as poder_id,
    arg_max(orgao_esfera_id, data_atualizacao)
        filter (where orgao_esfera_id is not null) as esfera_id,
    max(data_atualizacao) as last_seen_at
from mentions
where orgao_cnpj is not null
group by orgao_cnpj
