-- Every version of price-registration minutes archived in the window, typed: one row per
-- record of every page (the reconciliation with PNCP's totals counts these).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='ingestion_month',
    on_schema_change='fail',
    post_hook="{{ pncp_flag_latest_versions('numero_controle_pncp_ata') }}",
) }}

{{ pncp_versions_model(
    endpoints=['atas', 'atas_atualizacao'],
    specs=[
        ['numero_controle_pncp_ata', 'record.numeroControlePNCPAta', 'text'],
        ['numero_controle_pncp_compra', 'record.numeroControlePNCPCompra', 'text'],
        ['numero_ata_registro_preco', 'record.numeroAtaRegistroPreco', 'text'],
        ['ano_ata', 'record.anoAta', 'int'],
        ['cancelado', 'record.cancelado', 'bool'],
        ['data_cancelamento', 'record.dataCancelamento', 'timestamp'],
        ['data_assinatura', 'record.dataAssinatura', 'timestamp'],
        ['vigencia_inicio', 'record.vigenciaInicio', 'timestamp'],
        ['vigencia_fim', 'record.vigenciaFim', 'timestamp'],
        ['data_publicacao_pncp', 'record.dataPublicacaoPncp', 'timestamp'],
        ['data_inclusao', 'record.dataInclusao', 'timestamp'],
        ['data_atualizacao', 'record.dataAtualizacao', 'timestamp'],
        ['data_atualizacao_global', 'record.dataAtualizacaoGlobal', 'timestamp'],
        ['objeto_contratacao', 'record.objetoContratacao', 'text'],
        ['orgao_cnpj', 'record.cnpjOrgao', 'text'],
        ['orgao_razao_social', 'record.nomeOrgao', 'text'],
        ['orgao_sub_rogado_cnpj', 'record.cnpjOrgaoSubrogado', 'text'],
        ['orgao_sub_rogado_razao_social', 'record.nomeOrgaoSubrogado', 'text'],
        ['unidade_codigo', 'record.codigoUnidadeOrgao', 'text'],
        ['unidade_nome', 'record.nomeUnidadeOrgao', 'text'],
        ['unidade_sub_rogada_codigo', 'record.codigoUnidadeOrgaoSubrogado', 'text'],
        ['unidade_sub_rogada_nome', 'record.nomeUnidadeOrgaoSubrogado', 'text'],
        ['usuario', 'record.usuario', 'text'],
    ],
) }}
