"""Domain tables and vocabulary the synthetic records draw from.

Codes and names come from the consultation manual (section 5); shares and value ranges
are rough readings of real PNCP data, enough for volumes, joins and data-quality checks
to behave like production. A few codes the manual does not list are kept on purpose
(`UNKNOWN_*`): real data carries them, and loaders must flag rather than fail on them.
"""

from __future__ import annotations

from dataclasses import dataclass

UFS: dict[str, str] = {
    "AC": "Acre", "AL": "Alagoas", "AM": "Amazonas", "AP": "Amapá", "BA": "Bahia",
    "CE": "Ceará", "DF": "Distrito Federal", "ES": "Espírito Santo", "GO": "Goiás",
    "MA": "Maranhão", "MG": "Minas Gerais", "MS": "Mato Grosso do Sul", "MT": "Mato Grosso",
    "PA": "Pará", "PB": "Paraíba", "PE": "Pernambuco", "PI": "Piauí", "PR": "Paraná",
    "RJ": "Rio de Janeiro", "RN": "Rio Grande do Norte", "RO": "Rondônia", "RR": "Roraima",
    "RS": "Rio Grande do Sul", "SC": "Santa Catarina", "SE": "Sergipe", "SP": "São Paulo",
    "TO": "Tocantins",
}  # fmt: skip

# (municipality, UF, IBGE code). Municipal bodies dominate PNCP, so most rows land here.
MUNICIPIOS: tuple[tuple[str, str, str], ...] = (
    ("São Paulo", "SP", "3550308"), ("Campinas", "SP", "3509502"),
    ("Ribeirão Preto", "SP", "3543402"), ("Sorocaba", "SP", "3552205"),
    ("Santos", "SP", "3548500"), ("Rio de Janeiro", "RJ", "3304557"),
    ("Niterói", "RJ", "3303302"), ("Belo Horizonte", "MG", "3106200"),
    ("Uberlândia", "MG", "3170206"), ("Juiz de Fora", "MG", "3136702"),
    ("Contagem", "MG", "3118601"), ("Montes Claros", "MG", "3143302"),
    ("Vitória", "ES", "3205309"), ("Salvador", "BA", "2927408"),
    ("Feira de Santana", "BA", "2910800"), ("Recife", "PE", "2611606"),
    ("Petrolina", "PE", "2611101"), ("Fortaleza", "CE", "2304400"),
    ("Natal", "RN", "2408102"), ("Mossoró", "RN", "2408003"),
    ("João Pessoa", "PB", "2507507"), ("Campina Grande", "PB", "2504009"),
    ("Maceió", "AL", "2704302"), ("Aracaju", "SE", "2800308"),
    ("Teresina", "PI", "2211001"), ("São Luís", "MA", "2111300"),
    ("Belém", "PA", "1501402"), ("Santarém", "PA", "1506807"),
    ("Manaus", "AM", "1302603"), ("Macapá", "AP", "1600303"),
    ("Boa Vista", "RR", "1400100"), ("Rio Branco", "AC", "1200401"),
    ("Porto Velho", "RO", "1100205"), ("Palmas", "TO", "1721000"),
    ("Goiânia", "GO", "5208707"), ("Anápolis", "GO", "5201108"),
    ("Cuiabá", "MT", "5103403"), ("Campo Grande", "MS", "5002704"),
    ("Brasília", "DF", "5300108"), ("Curitiba", "PR", "4106902"),
    ("Londrina", "PR", "4113700"), ("Maringá", "PR", "4115200"),
    ("Florianópolis", "SC", "4205407"), ("Joinville", "SC", "4209102"),
    ("Blumenau", "SC", "4202404"), ("Porto Alegre", "RS", "4314902"),
    ("Caxias do Sul", "RS", "4305108"), ("Pelotas", "RS", "4314407"),
)  # fmt: skip


@dataclass(frozen=True)
class OrgaoKind:
    """A family of public bodies: name pattern, power, sphere and unit names."""

    name: str  # {cidade} / {uf} placeholders
    poder: str
    esfera: str
    share: float
    units: tuple[str, ...]


ORGAO_KINDS: tuple[OrgaoKind, ...] = (
    OrgaoKind(
        "MUNICIPIO DE {cidade}", "E", "M", 0.42,
        ("PREFEITURA MUNICIPAL DE {cidade}", "SECRETARIA MUNICIPAL DE SAUDE",
         "SECRETARIA MUNICIPAL DE EDUCACAO", "SECRETARIA MUNICIPAL DE OBRAS"),
    ),
    OrgaoKind(
        "FUNDO MUNICIPAL DE SAUDE DE {cidade}", "E", "M", 0.14,
        ("FUNDO MUNICIPAL DE SAUDE", "HOSPITAL MUNICIPAL"),
    ),
    OrgaoKind(
        "SERVICO AUTONOMO DE AGUA E ESGOTO DE {cidade}", "E", "M", 0.05,
        ("SAAE - SEDE",),
    ),
    OrgaoKind("CAMARA MUNICIPAL DE {cidade}", "L", "M", 0.10, ("CAMARA MUNICIPAL",)),
    OrgaoKind(
        "SECRETARIA DE ESTADO DA SAUDE - {uf}", "E", "E", 0.06,
        ("FUNDO ESTADUAL DE SAUDE", "HOSPITAL REGIONAL DE {cidade}"),
    ),
    OrgaoKind(
        "POLICIA MILITAR DO ESTADO DE {estado}", "E", "E", 0.03,
        ("DIRETORIA DE APOIO LOGISTICO", "BATALHAO DE {cidade}"),
    ),
    OrgaoKind(
        "TRIBUNAL DE JUSTICA DO ESTADO DE {estado}", "J", "E", 0.02,
        ("DIRETORIA DE COMPRAS E LICITACOES",),
    ),
    OrgaoKind(
        "ASSEMBLEIA LEGISLATIVA DO ESTADO DE {estado}", "L", "E", 0.01,
        ("DEPARTAMENTO ADMINISTRATIVO",),
    ),
    OrgaoKind(
        "UNIVERSIDADE FEDERAL DE {estado}", "E", "F", 0.06,
        ("PRO-REITORIA DE ADMINISTRACAO", "HOSPITAL UNIVERSITARIO", "CAMPUS {cidade}"),
    ),
    OrgaoKind(
        "INSTITUTO FEDERAL DE EDUCACAO, CIENCIA E TECNOLOGIA DE {estado}", "E", "F", 0.05,
        ("REITORIA", "CAMPUS {cidade}"),
    ),
    OrgaoKind(
        "COMANDO DO EXERCITO", "E", "F", 0.03,
        ("BATALHAO DE INFANTARIA DE {cidade}", "DEPOSITO DE SUPRIMENTO DE {cidade}"),
    ),
    OrgaoKind(
        "TRIBUNAL REGIONAL ELEITORAL DE {estado}", "J", "F", 0.02,
        ("SECRETARIA DE ADMINISTRACAO",),
    ),
    OrgaoKind(
        "DISTRITO FEDERAL - SECRETARIA DE ESTADO DE SAUDE", "E", "D", 0.01,
        ("FUNDO DE SAUDE DO DISTRITO FEDERAL",),
    ),
)  # fmt: skip

# Codes the manual does not list but real records carry (~0.5% of rows get one).
UNKNOWN_PODER = "N"
UNKNOWN_ESFERA = "N"
UNKNOWN_TIPO_CONTRATO = {"id": 13, "nome": "Termo de Cooperação"}
UNKNOWN_CATEGORIA = {"id": 12, "nome": "Outros"}
UNKNOWN_MODALIDADE_SUFFIX = " (Lei 8.666/1993)"  # legacy-law names linger in real data
UNKNOWN_AMPARO = {
    "descricao": "Credenciamento de interessados em prestar serviços",
    "nome": "Lei 14.133/2021, Art. 79, I",
    "codigo": 36,
}
UNKNOWN_CODE_SHARE = 0.005

TIPOS_CONTRATO: dict[int, tuple[str, float]] = {
    1: ("Contrato (termo inicial)", 0.55), 2: ("Comodato", 0.005), 3: ("Arrendamento", 0.005),
    4: ("Concessão", 0.005), 5: ("Termo de Adesão", 0.02), 6: ("Convênio", 0.01),
    7: ("Empenho", 0.30), 8: ("Outros", 0.03),
    9: ("Termo de Execução Descentralizada (TED)", 0.005),
    10: ("Acordo de Cooperação Técnica (ACT)", 0.01), 11: ("Termo de Compromisso", 0.01),
    12: ("Carta Contrato", 0.04),
}  # fmt: skip

CATEGORIAS_PROCESSO: dict[int, tuple[str, float]] = {
    1: ("Cessão", 0.01), 2: ("Compras", 0.45), 3: ("Informática (TIC)", 0.05),
    4: ("Internacional", 0.005), 5: ("Locação Imóveis", 0.02), 6: ("Mão de Obra", 0.03),
    7: ("Obras", 0.06), 8: ("Serviços", 0.25), 9: ("Serviços de Engenharia", 0.07),
    10: ("Serviços de Saúde", 0.04), 11: ("Alienação de bens móveis/imóveis", 0.01),
}  # fmt: skip

INSTRUMENTOS: dict[int, str] = {
    1: "Edital",
    2: "Aviso de Contratação Direta",
    3: "Ato que autoriza a Contratação Direta",
}

MODOS_DISPUTA: dict[int, str] = {
    1: "Aberto", 2: "Fechado", 3: "Aberto-Fechado", 4: "Dispensa Com Disputa",
    5: "Não se aplica", 6: "Fechado-Aberto",
}  # fmt: skip

SITUACOES_COMPRA: dict[str, str] = {
    "1": "Divulgada no PNCP",
    "2": "Revogada",
    "3": "Anulada",
    "4": "Suspensa",
}

_ART_28 = "Lei 14.133/2021, Art. 28, {}"
_ART_74 = "Lei 14.133/2021, Art. 74, {}"
_ART_75 = "Lei 14.133/2021, Art. 75, {}"
_NOTORIA = "Serviços técnicos especializados de natureza predominantemente intelectual"
_FAIXA_75 = "Contratação de bens e serviços em hipótese de dispensa do inciso IV"
AMPAROS: dict[int, tuple[str, str]] = {
    1: (_ART_28.format("I"), "Pregão"),
    2: (_ART_28.format("II"), "Concorrência"),
    3: (_ART_28.format("III"), "Concurso"),
    4: (_ART_28.format("IV"), "Leilão"),
    5: (_ART_28.format("V"), "Diálogo competitivo"),
    6: (_ART_74.format("I"), "Fornecedor exclusivo"),
    7: (_ART_74.format("II"), "Contratação de profissional do setor artístico"),
    **{8 + i: (_ART_74.format(f"III, {c}"), _NOTORIA) for i, c in enumerate("abcdefgh")},
    16: (_ART_74.format("IV"), "Objetos que devam ou possam ser contratados por credenciamento"),
    17: (_ART_74.format("V"), "Aquisição ou locação de imóvel"),
    18: (_ART_75.format("I"), "Obras e serviços de engenharia de valor inferior a R$ 100.000,00"),
    19: (_ART_75.format("II"), "Outros serviços e compras de valor inferior a R$ 50.000,00"),
    20: (_ART_75.format("III, a"), "Licitação deserta realizada há menos de 1 ano"),
    21: (_ART_75.format("III, b"), "Propostas com preços manifestamente superiores"),
    **{22 + i: (_ART_75.format(f"IV, {c}"), _FAIXA_75) for i, c in enumerate("abcdefg")},
}


@dataclass(frozen=True)
class ModalidadeProfile:
    """How procurements of one modalidade look: share of volume, codes and value range."""

    share: float  # of the day's procurements
    instrumentos: tuple[int, ...]
    modos: tuple[int, ...]
    amparos: tuple[int, ...]
    value_range: tuple[float, float]
    srp_chance: float


# Pregão eletrônico (6) and dispensa (8) dominate; diálogo (2) and concurso (3) are rare
# enough that most days answer 204 for them, as the live API does.
MODALIDADE_PROFILES: dict[int, ModalidadeProfile] = {
    1: ModalidadeProfile(0.006, (1,), (1,), (4,), (1e3, 5e6), 0.0),
    2: ModalidadeProfile(0.00003, (1,), (1, 3), (5,), (1e6, 5e8), 0.0),
    3: ModalidadeProfile(0.00003, (1,), (2,), (3,), (1e4, 1e6), 0.0),
    4: ModalidadeProfile(0.03, (1,), (1, 2, 3, 6), (2,), (1e5, 5e7), 0.2),
    5: ModalidadeProfile(0.01, (1,), (1, 2), (2,), (1e5, 5e7), 0.1),
    6: ModalidadeProfile(0.36, (1,), (1, 1, 3), (1,), (5e3, 5e6), 0.55),
    7: ModalidadeProfile(0.025, (1,), (1,), (1,), (5e3, 2e6), 0.4),
    8: ModalidadeProfile(0.42, (2, 3, 3), (4, 5, 5), (19, 19, 19, 18, 20, *range(22, 29)),
                         (2e2, 1e5), 0.0),
    9: ModalidadeProfile(0.11, (3,), (5,), tuple(range(6, 18)), (1e3, 1e6), 0.0),
    10: ModalidadeProfile(0.001, (1,), (5,), (1,), (1e4, 1e6), 0.0),
    11: ModalidadeProfile(0.0008, (1,), (5,), (2,), (1e4, 1e6), 0.0),
    12: ModalidadeProfile(0.03, (1,), (5,), (16,), (1e4, 5e6), 0.0),
    13: ModalidadeProfile(0.004, (1,), (1,), (4,), (1e3, 2e6), 0.0),
}  # fmt: skip

# Systems that publish to PNCP (`usuarioNome`) and where their procurements live.
PORTAIS: dict[str, tuple[str | None, float]] = {
    "Compras.gov.br": ("https://cnetmobile.estaleiro.serpro.gov.br/comprasnet-web/", 0.34),
    "BLL Compras": ("https://bllcompras.com/Process/ProcessView?param1=", 0.14),
    "Portal de Compras Públicas": ("https://www.portaldecompraspublicas.com.br/processos/", 0.14),
    "Licitanet": ("https://licitanet.com.br/processos/", 0.08),
    "BNC - Bolsa Nacional de Compras": ("https://bnccompras.com/Process/ProcessView?param1=", 0.08),
    "Licitar Digital": ("https://licitardigital.com.br/processo/", 0.06),
    "IPM Sistemas": (None, 0.08),
    "Betha Sistemas": (None, 0.05),
    "Elotech": (None, 0.03),
}  # fmt: skip

MATERIAIS = (
    "medicamentos", "material de expediente", "gêneros alimentícios para a merenda escolar",
    "combustíveis", "material de limpeza e higiene", "equipamentos de informática",
    "mobiliário escolar", "pneus e câmaras de ar", "material médico-hospitalar",
    "uniformes escolares", "material de construção", "peças para veículos da frota",
    "kits de enxoval", "equipamentos odontológicos", "insumos laboratoriais",
    "água mineral e gás de cozinha", "aparelhos de ar-condicionado", "cestas básicas",
)  # fmt: skip
SERVICOS = (
    "limpeza e conservação predial", "vigilância patrimonial", "manutenção preventiva e "
    "corretiva da frota", "transporte escolar", "coleta de resíduos sólidos",
    "locação de veículos", "fornecimento de refeições", "manutenção de ar-condicionado",
    "consultoria contábil", "assessoria jurídica", "desenvolvimento de sistemas",
    "exames laboratoriais", "organização de eventos", "publicidade institucional",
    "locação de máquinas pesadas", "apoio administrativo",
)  # fmt: skip
OBRAS = (
    "pavimentação asfáltica de vias urbanas", "reforma de unidade básica de saúde",
    "construção de creche", "drenagem pluvial", "ampliação de escola municipal",
    "recuperação de estradas vicinais", "construção de quadra poliesportiva",
)  # fmt: skip
DESTINOS = (
    "Secretaria Municipal de Saúde", "Secretaria Municipal de Educação",
    "Secretaria de Administração", "rede municipal de ensino", "unidades de saúde",
    "Secretaria de Obras e Infraestrutura", "Secretaria de Assistência Social",
    "frota oficial",
)  # fmt: skip
COMPLEMENTOS = (
    "Conforme termo de referência.",
    "Valor estimado sigiloso nos termos do art. 24 da Lei 14.133/2021.",
    "Participação exclusiva para ME/EPP.",
    "Processo conduzido pela comissão de contratação.",
    "Edital e anexos disponíveis no sistema de origem.",
)

EMPRESA_NUCLEOS = (
    "ALFA", "NORTE", "SAO JORGE", "BRASIL", "PRIME", "CENTRAL", "MEDICAL", "TECH", "NOVA ERA",
    "PLANALTO", "LITORAL", "SERRANA", "AGUIA", "ATLANTICO", "HORIZONTE", "VALE", "UNIAO",
    "MASTER", "GLOBAL", "AMAZONIA", "PIONEIRA", "ESTRELA", "CONFIANCA", "VITORIA",
)  # fmt: skip
EMPRESA_RAMOS = (
    "COMERCIO DE MEDICAMENTOS", "DISTRIBUIDORA", "SERVICOS", "ENGENHARIA", "CONSTRUCOES",
    "ALIMENTOS", "INFORMATICA", "COMBUSTIVEIS", "MATERIAIS DE CONSTRUCAO", "LOCACOES",
    "TRANSPORTES", "PRODUTOS HOSPITALARES", "PAPELARIA", "TECNOLOGIA",
)  # fmt: skip
EMPRESA_SUFIXOS = ("LTDA", "LTDA", "LTDA", "EIRELI", "S.A.", "LTDA - EPP", "ME")
PRENOMES = (
    "MARIA", "JOSE", "ANA", "JOAO", "ANTONIO", "FRANCISCA", "CARLOS", "PAULO", "ADRIANA",
    "LUCAS", "JULIANA", "MARCOS", "FERNANDA", "RAFAEL", "PATRICIA", "PEDRO",
)  # fmt: skip
SOBRENOMES = (
    "SILVA", "SANTOS", "OLIVEIRA", "SOUZA", "RODRIGUES", "FERREIRA", "ALVES", "PEREIRA",
    "LIMA", "GOMES", "COSTA", "RIBEIRO", "MARTINS", "CARVALHO", "ARAUJO", "MELO",
)  # fmt: skip
