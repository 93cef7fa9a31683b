"""Synthetic PNCP records, rendered as JSON text field for field as the official spec.

`RecuperarContratoDTO`, `RecuperarCompraPublicacaoDTO` and `AtaRegistroPrecoPeriodoDTO`
keys appear in the spec's order, with PNCP's conventions: CNPJs as 14-digit strings,
timestamps without a time zone, money as decimals, many optional fields null, and ~0.5%
of records carrying a code the manual does not list. Each record is a pure function of
`(seed, day, index)` (see `draws`); a `Revision` turns it into the later version the
update feeds re-emit — same control number, newer `dataAtualizacao`, changed values.

This is the simulator's hot path (~730k records in a benchmark month): each builder is
one f-string over pre-encoded fragments (see `fragments`), not a dict for `json.dumps`.
"""

from __future__ import annotations

from typing import NamedTuple

from project.lib.pncp.endpoints import MODALIDADES
from project.simulators.pncp import catalog
from project.simulators.pncp.clock import business_clock, iso_day
from project.simulators.pncp.draws import Draws, DrawSource
from project.simulators.pncp.fragments import FALSE, NULL, TRUE, fragment, money, quoted
from project.simulators.pncp.identity import Identities
from project.simulators.pncp.pools import Orgao, Pools
from project.simulators.pncp.profiles import Profiles

_UNKNOWN_TIPO = fragment(catalog.UNKNOWN_TIPO_CONTRATO)
_UNKNOWN_CATEGORIA = fragment(catalog.UNKNOWN_CATEGORIA)
_UNKNOWN_AMPARO = fragment(catalog.UNKNOWN_AMPARO)
_SITUACOES = {code: fragment(name) for code, name in catalog.SITUACOES_COMPRA.items()}


class Revision(NamedTuple):
    """A later version of a record: when it was updated, and the draws of what changed."""

    stamp: str
    source: DrawSource
    key: tuple[int, int, int]

    def draws(self) -> Draws:
        return self.source.draws(*self.key)


class RecordBuilder:
    """Renders the records of one synthetic portal, one `(day, index)` at a time."""

    def __init__(self, seed: int, pools: Pools, profiles: Profiles, ids: Identities) -> None:
        self.pools = pools
        self.profiles = profiles
        self.ids = ids
        self._contracts = DrawSource(seed, "contract")
        self._procurements = DrawSource(seed, "procurement")
        self._atas = DrawSource(seed, "ata")

    def contract(
        self, ordinal: int, index: int, count: int, revision: Revision | None = None
    ) -> str:
        """The index-th of `count` contracts published on day `ordinal`."""
        d = self._contracts.draws(ordinal, index)
        day = self.ids.day(ordinal)
        slot = self.ids.slot(index, day.contract_shift)
        orgao = self.pools.orgaos[slot]
        unidade = d.pick(orgao.unidades)
        p = d.pick(self.profiles.contracts)
        supplier = d.pick(self.pools.suppliers)
        value = round(d.log_between(*p.value_range), 2)
        compra = self.ids.procurement_of_body(slot, ordinal, d) if d.chance(0.75) else None
        signed = ordinal - d.below(15)
        start = signed + d.below(5)
        year = day.year
        if p.is_empenho:  # commitments are numbered like 2024NE000123
            numero = f"{year}NE{d.below(10**6):06d}"
        else:
            numero = f"{d.below(999) + 1:03d}/{year}"
        published = f"{day.iso}T{business_clock(index, count, d)}"
        sequence = self.ids.sequence(day, index)
        sub = d.pick(self.pools.suppliers) if d.chance(0.02) else None
        sub_rogado = self.pools.orgaos[d.below(self.pools.slots)] if d.chance(0.01) else None
        cipi = None
        if p.categoria_id == 7 and d.chance(0.1):  # works carry an investment-project id
            cipi = f"{d.below(100):02d}.{d.below(100):02d}-{d.below(100):02d}"
        entidade, tipo, categoria = orgao.json, p.tipo, p.categoria
        if d.chance(catalog.UNKNOWN_CODE_SHARE):
            which = d.below(3)
            if which == 0:
                entidade = fragment({**orgao.entidade, "poderId": catalog.UNKNOWN_PODER})
            tipo = _UNKNOWN_TIPO if which == 1 else tipo
            categoria = _UNKNOWN_CATEGORIA if which == 2 else categoria
        updated, retificacao, current = published, 0, value
        if revision is not None:  # an amendment: new value, one or two more rectifications
            updated, r = revision.stamp, revision.draws()
            retificacao = 1 + r.below(2)
            current = round(value * r.between(0.9, 1.25), 2)
        return (
            f'{{"numeroControlePncpCompra":{quoted(compra)},'
            f'"codigoPaisFornecedor":"{supplier.pais}",'
            f'"anoContrato":{year},'
            f'"tipoContrato":{tipo},'
            f'"numeroContratoEmpenho":"{numero}",'
            f'"dataAssinatura":"{iso_day(signed)}",'
            f'"dataVigenciaInicio":"{iso_day(start)}",'
            f'"dataVigenciaFim":"{iso_day(start + p.vigencia_days)}",'
            f'"niFornecedor":"{supplier.ni}",'
            f'"tipoPessoa":"{supplier.tipo_pessoa}",'
            f'"orgaoEntidade":{entidade},'
            f'"categoriaProcesso":{categoria},'
            f'"dataPublicacaoPncp":"{published}",'
            f'"dataAtualizacao":"{updated}",'
            f'"sequencialContrato":{sequence},'
            f'"unidadeOrgao":{unidade.json},'
            f'"informacaoComplementar":{p.complemento},'
            f'"processo":"{_processo(d, orgao, year)}",'
            f'"unidadeSubRogada":{sub_rogado.unidades[0].json if sub_rogado else NULL},'
            f'"orgaoSubRogado":{sub_rogado.json if sub_rogado else NULL},'
            f'"nomeRazaoSocialFornecedor":{supplier.nome},'
            f'"niFornecedorSubContratado":{quoted(sub.ni) if sub else NULL},'
            f'"nomeFornecedorSubContratado":{sub.nome if sub else NULL},'
            f'"numeroControlePNCP":"{orgao.cnpj}-2-{sequence:06d}/{year}",'
            f'"receita":{p.receita},'
            f'"numeroParcelas":{p.parcelas},'
            f'"numeroRetificacao":{retificacao},'
            f'"tipoPessoaSubContratada":{quoted(sub.tipo_pessoa) if sub else NULL},'
            f'"objetoContrato":{p.objeto},'
            f'"valorInicial":{value!r},'
            f'"valorParcela":{round(value / p.parcelas, 2)!r},'
            f'"valorGlobal":{current!r},'
            f'"valorAcumulado":{current!r},'
            f'"dataAtualizacaoGlobal":"{updated}",'
            f'"identificadorCipi":{quoted(cipi)},'
            f'"urlCipi":{quoted(cipi and f"https://cipi.economia.gov.br/projeto/{cipi}")},'
            f'"usuarioNome":{p.portal}}}'
        )

    def procurement(
        self,
        modalidade: int,
        ordinal: int,
        index: int,
        count: int,
        revision: Revision | None = None,
    ) -> str:
        """The index-th of `count` procurements of a modalidade published on day `ordinal`."""
        day = self.ids.day(ordinal)
        day_index = day.offsets[modalidade] + index  # across modalidades, in code order
        d = self._procurements.draws(ordinal, day_index)
        orgao = self.pools.orgaos[self.ids.slot(day_index, day.procurement_shift)]
        unidade = d.pick(orgao.unidades)
        p = d.pick(self.profiles.procurements[modalidade])
        estimated = round(d.log_between(*p.value_range), 2)
        # Direct awards without a dispute are homologated on publication.
        homologated = None if p.competitive else round(estimated * d.between(0.7, 1.0), 2)
        opening, closing = NULL, NULL
        if p.competitive:
            opening = f'"{iso_day(ordinal + 1)}T08:00:00"'
            closing = f'"{iso_day(ordinal + 8 + d.below(22))}T09:00:00"'
        year = day.year
        published = f"{day.iso}T{business_clock(index, count, d)}"
        numero = f"{d.below(999) + 1:03d}/{year}"
        sequence = self.ids.sequence(day, day_index)
        processo = _processo(d, orgao, year)
        link = f"{p.link}{d.below(10**7)}" if p.link else None
        entidade, amparo, modalidade_nome = orgao.json, p.amparo, p.modalidade_nome
        if d.chance(catalog.UNKNOWN_CODE_SHARE):
            which = d.below(3)
            if which == 0:
                entidade = fragment({**orgao.entidade, "esferaId": catalog.UNKNOWN_ESFERA})
            amparo = _UNKNOWN_AMPARO if which == 1 else amparo
            if which == 2:
                nome = MODALIDADES[modalidade] + catalog.UNKNOWN_MODALIDADE_SUFFIX
                modalidade_nome = fragment(nome)
        updated, situacao = published, "1"
        if revision is not None:  # homologated, or revoked / annulled / suspended
            updated, r = revision.stamp, revision.draws()
            situacao = r.pick(("2", "3", "4")) if r.chance(0.15) else "1"
            if situacao == "1" and homologated is None:
                homologated = round(estimated * r.between(0.6, 1.0), 2)
        fontes = "[]" if p.fonte is None else fragment([{**p.fonte, "dataInclusao": published}])
        return (
            f'{{"srp":{p.srp},'
            f'"orgaoEntidade":{entidade},'
            f'"anoCompra":{year},'
            f'"sequencialCompra":{sequence},'
            f'"dataInclusao":"{published}",'
            f'"dataPublicacaoPncp":"{published}",'
            f'"dataAtualizacao":"{updated}",'
            f'"numeroCompra":"{numero}",'
            f'"unidadeOrgao":{unidade.json},'
            f'"amparoLegal":{amparo},'
            f'"dataAberturaProposta":{opening},'
            f'"dataEncerramentoProposta":{closing},'
            f'"informacaoComplementar":{p.complemento},'
            f'"processo":"{processo}",'
            f'"objetoCompra":{p.objeto},'
            f'"linkSistemaOrigem":{quoted(link)},'
            f'"justificativaPresencial":{p.justificativa},'
            f'"unidadeSubRogada":null,'
            f'"orgaoSubRogado":null,'
            f'"valorTotalHomologado":{money(homologated)},'
            f'"linkProcessoEletronico":null,'
            f'"numeroControlePNCP":"{orgao.cnpj}-1-{sequence:06d}/{year}",'
            f'"modalidadeId":{modalidade},'
            f'"dataAtualizacaoGlobal":"{updated}",'
            f'"modoDisputaId":{p.modo},'
            f'"valorTotalEstimado":{estimated!r},'
            f'"modalidadeNome":{modalidade_nome},'
            f'"modoDisputaNome":{p.modo_nome},'
            f'"tipoInstrumentoConvocatorioCodigo":{p.instrumento},'
            f'"tipoInstrumentoConvocatorioNome":{p.instrumento_nome},'
            f'"fontesOrcamentarias":{fontes},'
            f'"situacaoCompraId":"{situacao}",'
            f'"situacaoCompraNome":{_SITUACOES[situacao]},'
            f'"usuarioNome":{p.portal}}}'
        )

    def ata(self, ordinal: int, index: int, count: int, revision: Revision | None = None) -> str:
        """The index-th of `count` atas whose validity starts on day `ordinal`."""
        d = self._atas.draws(ordinal, index)
        day = self.ids.day(ordinal)
        compra, slot, sequence = self.ids.ata_procurement(day, index)
        orgao = self.pools.orgaos[slot]
        unidade = d.pick(orgao.unidades)
        p = d.pick(self.profiles.atas)
        year = day.year
        published = f"{day.iso}T{business_clock(index, count, d)}"
        signed = ordinal - d.below(4)
        numero = f"{d.below(300) + 1:03d}/{year}"
        updated, cancelled = published, False
        if revision is not None:  # now and then an ata is cancelled
            updated = revision.stamp
            cancelled = revision.draws().chance(0.1)
        return (
            f'{{"numeroControlePNCPAta":"{compra}-{sequence:06d}",'
            f'"numeroAtaRegistroPreco":"{numero}",'
            f'"anoAta":{year},'
            f'"numeroControlePNCPCompra":"{compra}",'
            f'"cancelado":{TRUE if cancelled else FALSE},'
            f'"dataCancelamento":{quoted(updated) if cancelled else NULL},'
            f'"dataAssinatura":"{iso_day(signed)}T00:00:00",'
            f'"vigenciaInicio":"{day.iso}T00:00:00",'
            f'"vigenciaFim":"{iso_day(ordinal + p.vigencia_days)}T00:00:00",'
            f'"dataPublicacaoPncp":"{published}",'
            f'"dataInclusao":"{published}",'
            f'"dataAtualizacao":"{updated}",'
            f'"dataAtualizacaoGlobal":"{updated}",'
            f'"usuario":{p.portal},'
            f'"objetoContratacao":{p.objeto},'
            f'"cnpjOrgao":"{orgao.cnpj}",'
            f'"nomeOrgao":{orgao.razao_social},'
            f'"cnpjOrgaoSubrogado":null,'
            f'"nomeOrgaoSubrogado":null,'
            f'"codigoUnidadeOrgao":{unidade.codigo},'
            f'"nomeUnidadeOrgao":{unidade.nome},'
            f'"codigoUnidadeOrgaoSubrogado":null,'
            f'"nomeUnidadeOrgaoSubrogado":null}}'
        )


def _processo(d: Draws, orgao: Orgao, year: int) -> str:
    if orgao.entidade["esferaId"] == "F":  # federal bodies number processes in SEI
        return f"{d.below(90000) + 10000}.{d.below(10**6):06d}/{year}-{d.below(100):02d}"
    return f"{d.below(9999) + 1}/{year}"
