-- Contracted value by public body, month of publication and modality of the procurement
-- the contract came from (NULL modality: no procurement referenced or not archived).
select
    mes_publicacao,
    orgao_key,
    orgao_cnpj,
    any_value(orgao_razao_social) as orgao_razao_social,
    modalidade_id,
    count(*) as contracts,
    sum(valor_global) as valor_global,
    sum(valor_inicial) as valor_inicial,
    count(distinct ni_fornecedor) as suppliers
from {{ ref('contratos_mes') }}
where {{ pncp_in_window('mes_publicacao') }} and orgao_cnpj is not null
group by mes_publicacao, orgao_key, orgao_cnpj, modalidade_id
order by mes_publicacao, orgao_cnpj, modalidade_id
