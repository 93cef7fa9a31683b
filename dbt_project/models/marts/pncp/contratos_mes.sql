-- Contracts by month of publication in PNCP (Brasília time), each at its latest version,
-- with the keys of its body, unit, supplier and linked procurement's modality. Ordered by
-- body and publication time, the layout the monthly Parquet export keeps.
select
    contrato.mes_publicacao,
    contrato.numero_controle_pncp,
    md5('orgao|' || contrato.orgao_cnpj) as orgao_key,
    md5('unidade|' || contrato.orgao_cnpj || '|' || contrato.unidade_codigo) as unidade_key,
    md5('fornecedor|' || contrato.ni_fornecedor) as fornecedor_key,
    contrato.orgao_cnpj,
    contrato.orgao_razao_social,
    contrato.unidade_codigo,
    contrato.unidade_uf_sigla,
    contrato.ni_fornecedor,
    contrato.nome_razao_social_fornecedor,
    contrato.tipo_pessoa,
    contrato.numero_controle_pncp_compra,
    compra.modalidade_id,
    contrato.tipo_contrato_id,
    contrato.categoria_processo_id,
    contrato.ano_contrato,
    contrato.numero_contrato_empenho,
    contrato.objeto_contrato,
    contrato.receita,
    contrato.valor_inicial,
    contrato.valor_global,
    contrato.valor_acumulado,
    contrato.numero_parcelas,
    contrato.numero_retificacao,
    contrato.data_assinatura,
    contrato.data_vigencia_inicio,
    contrato.data_vigencia_fim,
    contrato.data_publicacao_pncp,
    contrato.data_atualizacao,
    contrato.invalid_fields,
    contrato.ingestion_date as last_ingestion_date,
    contrato.source_endpoint
from {{ ref('int_pncp__contratos_current') }} as contrato
left join {{ ref('int_pncp__contratacoes_current') }} as compra
    on compra.numero_controle_pncp = contrato.numero_controle_pncp_compra
where {{ pncp_in_window('contrato.mes_publicacao') }}
order by contrato.mes_publicacao, contrato.orgao_cnpj, contrato.data_publicacao_pncp,
    contrato.numero_controle_pncp
