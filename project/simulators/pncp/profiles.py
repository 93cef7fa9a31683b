"""Pre-rendered bundles of a record's categorical fields.

A contract's type, category, object, instalments, term and publishing system (and the
like for procurements and atas) are drawn once per profile when a portal is built; a
record then picks one profile with a single draw. A few thousand profiles give ample
variety while halving the per-record random draws, the generator's main cost.
Profiles hold ready JSON fragments (see `fragments`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from project.lib.pncp.endpoints import MODALIDADES
from project.simulators.pncp import catalog
from project.simulators.pncp.fragments import FALSE, NULL, TRUE, fragment
from project.simulators.pncp.pools import Pools

# Contract value ranges (R$) by process category: works cost more than stationery.
_CONTRACT_VALUES = {7: (5e4, 2e7), 9: (2e4, 5e6), 4: (1e4, 5e6), 5: (1e4, 2e6), 6: (5e4, 1e7)}
_DEFAULT_CONTRACT_VALUES = (3e2, 2e6)
_VIGENCIA_DAYS = (30, 90, 180, 365, 365, 365, 730)
_PARCELAS = (1, 1, 1, 1, 3, 6, 12, 12)
_PRESENCIAL = frozenset({5, 7, 13})
_JUSTIFICATIVA = "Modalidade presencial justificada pela indisponibilidade de meio eletrônico"
_FONTES = (
    {"codigo": 1, "nome": "Recursos Próprios", "descricao": "Recursos próprios do ente"},
    {"codigo": 2, "nome": "Transferência", "descricao": "Transferência voluntária da União"},
)


@dataclass(frozen=True)
class ContractProfile:
    tipo: str
    is_empenho: bool
    categoria: str
    categoria_id: int
    objeto: str
    parcelas: int
    vigencia_days: int
    receita: str
    complemento: str
    portal: str
    value_range: tuple[float, float]


@dataclass(frozen=True)
class ProcurementProfile:
    srp: str
    amparo: str
    competitive: bool  # has a proposal window; direct awards are homologated at once
    complemento: str
    objeto: str
    portal: str
    link: str | None  # prefix of linkSistemaOrigem
    justificativa: str
    modalidade_nome: str
    modo: int
    modo_nome: str
    instrumento: int
    instrumento_nome: str
    fonte: dict[str, object] | None
    value_range: tuple[float, float]


@dataclass(frozen=True)
class AtaProfile:
    portal: str
    objeto: str
    vigencia_days: int


@dataclass(frozen=True)
class Profiles:
    contracts: tuple[ContractProfile, ...]
    procurements: dict[int, tuple[ProcurementProfile, ...]]
    atas: tuple[AtaProfile, ...]


def build_profiles(seed: int, pools: Pools) -> Profiles:
    rng = random.Random(f"{seed}:profiles")
    portals = list(catalog.PORTAIS.items())
    portal_weights = [share for _, (_, share) in portals]

    def portal() -> tuple[str, str | None]:
        name, (link, _) = rng.choices(portals, portal_weights)[0]
        return fragment(name), link

    def complemento(chance: float) -> str:
        return fragment(rng.choice(catalog.COMPLEMENTOS)) if rng.random() < chance else NULL

    return Profiles(
        contracts=tuple(_contract(rng, pools, portal()[0], complemento(0.3)) for _ in range(2048)),
        procurements={
            m: tuple(_procurement(rng, pools, m, portal(), complemento(0.4)) for _ in range(256))
            for m in catalog.MODALIDADE_PROFILES
        },
        atas=tuple(
            AtaProfile(portal()[0], rng.choice(pools.objetos_compra), rng.choice((180, 364, 364)))
            for _ in range(512)
        ),
    )


def _contract(rng: random.Random, pools: Pools, portal: str, complemento: str) -> ContractProfile:
    tipos = list(catalog.TIPOS_CONTRATO.items())
    tipo_id, (tipo_nome, _) = rng.choices(tipos, [share for _, (_, share) in tipos])[0]
    categorias = list(catalog.CATEGORIAS_PROCESSO.items())
    cat_id, (cat_nome, _) = rng.choices(categorias, [share for _, (_, share) in categorias])[0]
    return ContractProfile(
        tipo=fragment({"id": tipo_id, "nome": tipo_nome}),
        is_empenho=tipo_id == 7,
        categoria=fragment({"id": cat_id, "nome": cat_nome}),
        categoria_id=cat_id,
        objeto=rng.choice(pools.objetos_por_categoria[cat_id]),
        parcelas=rng.choice(_PARCELAS),
        vigencia_days=rng.choice(_VIGENCIA_DAYS),
        receita=TRUE if rng.random() < 0.02 else FALSE,
        complemento=complemento,
        portal=portal,
        value_range=_CONTRACT_VALUES.get(cat_id, _DEFAULT_CONTRACT_VALUES),
    )


def _procurement(
    rng: random.Random,
    pools: Pools,
    modalidade: int,
    portal: tuple[str, str | None],
    complemento: str,
) -> ProcurementProfile:
    profile = catalog.MODALIDADE_PROFILES[modalidade]
    instrumento = rng.choice(profile.instrumentos)
    modo = rng.choice(profile.modos)
    codigo = rng.choice(profile.amparos)
    nome, descricao = catalog.AMPAROS[codigo]
    return ProcurementProfile(
        srp=TRUE if rng.random() < profile.srp_chance else FALSE,
        amparo=fragment({"descricao": descricao, "nome": nome, "codigo": codigo}),
        competitive=not (modo == 5 and instrumento == 3),
        complemento=complemento,
        objeto=rng.choice(pools.objetos_compra),
        portal=portal[0],
        link=portal[1],
        justificativa=fragment(_JUSTIFICATIVA) if modalidade in _PRESENCIAL else NULL,
        modalidade_nome=fragment(MODALIDADES[modalidade]),
        modo=modo,
        modo_nome=fragment(catalog.MODOS_DISPUTA[modo]),
        instrumento=instrumento,
        instrumento_nome=fragment(catalog.INSTRUMENTOS[instrumento]),
        fonte=rng.choice(_FONTES) if rng.random() < 0.1 else None,
        value_range=profile.value_range,
    )
