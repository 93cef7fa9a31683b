-- Each contract of the month and the procurement it came from (numeroControlePncpCompra):
-- linked when that procurement is archived, with estimated vs contracted value.
select
    contrato.mes_publicacao,
    contrato.numero_controle_pncp,
    contrato.numero_controle_pncp_compra,
    case
        when contrato.numero_controle_pncp_compra is null then 'no_procurement_reference'
        when compra.numero_controle_pncp is null then 'procurement_not_archived'
        else 'linked'
    end as link_status,
    contrato.orgao_cnpj,
    compra.modalidade_id,
    compra.data_publicacao_pncp as compra_publicada_em,
    contrato.data_publicacao_pncp as contrato_publicado_em,
    date_diff('day', compra.data_publicacao_pncp, contrato.data_publicacao_pncp)
        as days_from_procurement_to_contract,
    compra.valor_total_estimado,
    contrato.valor_global,
    case when compra.valor_total_estimado > 0
        then round(contrato.valor_global / compra.valor_total_estimado, 4)::double
    end as contracted_to_estimated_ratio
from {{ ref('contratos_mes') }} as contrato
left join {{ ref('int_pncp__contratacoes_current') }} as compra
    on compra.numero_controle_pncp = contrato.numero_controle_pncp_compra
where {{ pncp_in_window('contrato.mes_publicacao') }}
order by contrato.mes_publicacao, contrato.orgao_cnpj, contrato.numero_controle_pncp
