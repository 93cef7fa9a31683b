"""The seeded cast of a synthetic PNCP: public bodies, their units, suppliers, objects.

Built once per `(seed, scale)` and shared by every record, so a record picks from pools
instead of inventing names. Everything a record embeds is stored pre-encoded as a JSON
fragment (see `schemas`), so rendering never escapes a string twice.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from project.simulators.pncp import catalog
from project.simulators.pncp.fragments import fragment

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Unidade:
    """An administrative unit (`unidadeOrgao`)."""

    json: str
    codigo: str  # codigoUnidade as JSON
    nome: str  # nomeUnidade as JSON


@dataclass(frozen=True)
class Orgao:
    """A public body (`orgaoEntidade`) and its units."""

    entidade: JsonObject
    json: str
    razao_social: str  # as JSON
    unidades: tuple[Unidade, ...]

    @property
    def cnpj(self) -> str:
        return self.entidade["cnpj"]


@dataclass(frozen=True)
class Supplier:
    tipo_pessoa: str  # PJ, PF or PE
    ni: str  # CNPJ, CPF or a foreign identifier
    nome: str  # as JSON
    pais: str


@dataclass(frozen=True)
class Pools:
    orgaos: tuple[Orgao, ...]
    suppliers: tuple[Supplier, ...]
    objetos_compra: tuple[str, ...]  # as JSON
    objetos_por_categoria: dict[int, tuple[str, ...]]  # as JSON

    @property
    def slots(self) -> int:
        """How many bodies publish; record identities are spread over them (`identity`)."""
        return len(self.orgaos)


def orgao_count(scale: float) -> int:
    """Fewer bodies at tiny scales, so each still publishes a plausible handful a day."""
    return max(20, min(4000, round(2000 * scale)))


@cache
def pools_for(seed: int, scale: float) -> Pools:
    rng = random.Random(f"{seed}:pools")
    return Pools(
        orgaos=_orgaos(rng, orgao_count(scale)),
        suppliers=_suppliers(rng, max(50, min(20_000, round(6000 * scale)))),
        objetos_compra=_objetos(rng, (2, 8, 9, 7), 600),
        objetos_por_categoria={
            cat: _objetos(rng, (cat,), 150) for cat in catalog.CATEGORIAS_PROCESSO
        },
    )


def cnpj(rng: random.Random, branch: str = "0001") -> str:
    """A CNPJ with valid check digits."""
    digits = [int(c) for c in f"{rng.randrange(10**8):08d}{branch}"]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        rest = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


def cpf(rng: random.Random) -> str:
    """A CPF with valid check digits."""
    digits = [rng.randrange(10) for _ in range(9)]
    for length in (9, 10):
        rest = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


def _upper_ascii(text: str) -> str:
    """Registry names are upper case without accents ("MUNICIPIO DE MACEIO")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _orgaos(rng: random.Random, count: int) -> tuple[Orgao, ...]:
    kinds = catalog.ORGAO_KINDS
    weights = [k.share for k in kinds]
    seen: set[str] = set()
    orgaos: list[Orgao] = []
    while len(orgaos) < count:
        kind = rng.choices(kinds, weights)[0]
        cidade, uf, ibge = rng.choice(catalog.MUNICIPIOS)
        if kind.esfera == "D":
            cidade, uf, ibge = "Brasília", "DF", "5300108"
        number = cnpj(rng)
        if number in seen:
            continue
        seen.add(number)
        names = {
            "cidade": _upper_ascii(cidade),
            "uf": uf,
            "estado": _upper_ascii(catalog.UFS[uf]),
        }
        entidade = {  # RecuperarOrgaoEntidadeDTO
            "cnpj": number,
            "razaoSocial": kind.name.format(**names),
            "poderId": kind.poder,
            "esferaId": kind.esfera,
        }
        federal = kind.esfera == "F"
        chosen = rng.sample(kind.units, rng.randint(1, len(kind.units)))
        unidades = []
        for i, unit in enumerate(chosen):
            codigo = str(rng.randrange(110_000, 999_999) if federal else i + 1)
            nome = unit.format(**names)
            unidade = {  # RecuperarUnidadeOrgaoDTO
                "ufNome": catalog.UFS[uf],
                "codigoUnidade": codigo,
                "nomeUnidade": nome,
                "ufSigla": uf,
                "municipioNome": cidade,
                "codigoIbge": ibge,
            }
            unidades.append(Unidade(fragment(unidade), fragment(codigo), fragment(nome)))
        orgaos.append(
            Orgao(entidade, fragment(entidade), fragment(entidade["razaoSocial"]), tuple(unidades))
        )
    return tuple(orgaos)


def _suppliers(rng: random.Random, count: int) -> tuple[Supplier, ...]:
    suppliers = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.10:
            nome = " ".join(
                (
                    rng.choice(catalog.PRENOMES),
                    rng.choice(catalog.SOBRENOMES),
                    rng.choice(catalog.SOBRENOMES),
                )
            )
            suppliers.append(Supplier("PF", cpf(rng), fragment(nome), "BRA"))
        elif roll < 0.103:
            nome = f"{rng.choice(catalog.EMPRESA_NUCLEOS)} TRADING INC"
            suppliers.append(Supplier("PE", f"EX{rng.randrange(10**9):09d}", fragment(nome), "USA"))
        else:
            nome = " ".join(
                (
                    rng.choice(catalog.EMPRESA_NUCLEOS),
                    rng.choice(catalog.EMPRESA_RAMOS),
                    rng.choice(catalog.EMPRESA_SUFIXOS),
                )
            )
            branch = f"{rng.choice((1, 1, 1, 2, 3)):04d}"
            suppliers.append(Supplier("PJ", cnpj(rng, branch), fragment(nome), "BRA"))
    return tuple(suppliers)


def _objetos(rng: random.Random, categorias: tuple[int, ...], count: int) -> tuple[str, ...]:
    """Object descriptions in the style of real notices, as JSON strings."""
    templates = []
    for cat in categorias:
        if cat in (7, 9):
            templates += [f"Contratação de empresa de engenharia para {o}" for o in catalog.OBRAS]
        elif cat in (8, 6, 10, 3):
            templates += [
                f"Contratação de empresa especializada na prestação de serviços de {s} para {{d}}"
                for s in catalog.SERVICOS
            ]
        else:
            templates += [f"Aquisição de {m} para atender {{d}}" for m in catalog.MATERIAIS]
            templates += [
                f"Registro de preços para futura e eventual aquisição de {m}"
                for m in catalog.MATERIAIS
            ]
    return tuple(
        fragment(rng.choice(templates).format(d=rng.choice(catalog.DESTINOS))) for _ in range(count)
    )
