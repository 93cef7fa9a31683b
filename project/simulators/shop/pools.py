"""The seeded cast the shop draws from: Brazilian names, cities, e-mail domains, products.

Faker (pt_BR) builds small pools once per seed; records then pick from them by index, so
volume never calls Faker. Faker's output is fixed by its version (pinned in uv.lock) and
the seed, which keeps files byte-identical across runs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
from faker import Faker

# Approximate population (millions, 2022 census) by state: customers live where people do.
STATE_POPULATION = {
    "SP": 44.4, "MG": 20.5, "RJ": 16.1, "BA": 14.1, "PR": 11.4, "RS": 10.9, "PE": 9.1,
    "CE": 8.8, "PA": 8.1, "SC": 7.6, "GO": 7.1, "MA": 6.8, "AM": 3.9, "PB": 4.0, "ES": 3.8,
    "MT": 3.7, "RN": 3.3, "PI": 3.3, "AL": 3.1, "DF": 2.8, "MS": 2.8, "SE": 2.2, "RO": 1.6,
    "TO": 1.5, "AC": 0.8, "AP": 0.7, "RR": 0.6,
}  # fmt: skip
SEGMENTS = ("consumer", "premium", "business")
SEGMENT_SHARES = (0.8, 0.15, 0.05)

# Category -> (product nouns, median price in BRL). Portuguese: the shop's own catalogue.
CATEGORIES: dict[str, tuple[tuple[str, ...], float]] = {
    "Eletrônicos": (("Fone de Ouvido", "Caixa de Som", "Smartwatch", "Carregador"), 180.0),
    "Informática": (("Mouse", "Teclado", "Monitor", "SSD", "Webcam"), 250.0),
    "Casa e Cozinha": (("Panela", "Liquidificador", "Jogo de Toalhas", "Cafeteira"), 120.0),
    "Moda": (("Camiseta", "Tênis", "Jaqueta", "Mochila", "Boné"), 90.0),
    "Esporte e Lazer": (("Bola", "Garrafa Térmica", "Tapete de Yoga", "Bicicleta"), 110.0),
    "Beleza e Saúde": (("Perfume", "Protetor Solar", "Secador", "Hidratante"), 70.0),
    "Livros": (("Livro de Receitas", "Romance", "Guia de Viagem", "HQ"), 45.0),
    "Brinquedos": (("Quebra-Cabeça", "Boneca", "Carrinho", "Jogo de Tabuleiro"), 80.0),
    "Pet Shop": (("Ração", "Coleira", "Cama para Pet", "Arranhador"), 60.0),
}


@dataclass(frozen=True)
class Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    email_domains: tuple[str, ...]
    cities: tuple[str, ...]
    city_states: tuple[str, ...]  # the state (UF) of each city
    city_weights: np.ndarray  # sums to 1; big states' cities come up more
    brands: tuple[str, ...]
    colors: tuple[str, ...]


def _unique(make, n: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _ in range(n * 20):
        seen.setdefault(make(), None)
        if len(seen) == n:
            break
    return tuple(seen)


@cache
def pools(seed: int) -> Pools:
    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    cities, states, weights = [], [], []
    for state, people in STATE_POPULATION.items():
        count = max(2, round(people))
        for city in _unique(fake.city, count):
            cities.append(city)
            states.append(state)
            weights.append(people / count)
    w = np.array(weights)
    return Pools(
        first_names=_unique(fake.first_name, 300),
        last_names=_unique(fake.last_name, 150),
        email_domains=_unique(fake.free_email_domain, 8),
        cities=tuple(cities),
        city_states=tuple(states),
        city_weights=w / w.sum(),
        brands=_unique(fake.last_name, 40),
        colors=_unique(fake.color_name, 40),
    )


def slug(text: str) -> str:
    """`João Felipe` -> `joao.felipe`: e-mail local parts without accents or spaces."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return ".".join(ascii_text.lower().replace("'", "").split())
