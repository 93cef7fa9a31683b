"""PNCP control numbers for synthetic records: unique, and computable from (day, index).

A control number is `CNPJ-marker-sequence/year` (manual 4.1; marker 1 = procurement,
2 = contract; an ata appends `-sequence` to its procurement's number). Here the i-th
record of a day goes to body `slot = (i * A + B_day) mod N` — a per-day permutation
of the N publishing bodies — with sequence `(day_of_year - 1) * 2000 + i // N + 1`.
Within a year no two records share (body, sequence), so numbers are unique, and any
record's number (hence any cross reference) is arithmetic rather than a lookup:
contracts and atas point at procurements the simulator really serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from project.lib.pncp.endpoints import MODALIDADES
from project.simulators.pncp.draws import Draws, DrawSource
from project.simulators.pncp.pools import Pools
from project.simulators.pncp.volumes import Volumes

PROCUREMENTS = "contratacoes_publicacao"
SEQUENCE_PER_DAY = 2000
REFERENCE_WINDOW_DAYS = 60
_PHANTOM_BASE = 800_000  # above any served sequence (366 * 2000): procurements never served
_STRIDE = 7919  # a prime above the largest pool, hence coprime with any pool size


@dataclass(frozen=True, slots=True)
class Day:
    """What every record of a day shares, computed once per day."""

    ordinal: int
    year: int
    iso: str  # yyyy-MM-dd
    sequence_base: int  # (day of year - 1) * SEQUENCE_PER_DAY
    contract_shift: int  # B_day of each family's permutation
    procurement_shift: int
    ata_shift: int
    ata_lag_shift: int
    procurements: int  # published that day, all modalidades
    offsets: dict[int, int]  # modalidade -> day index of its first procurement


class Identities:
    """Control numbers and cross references for one synthetic portal."""

    def __init__(self, seed: int, volumes: Volumes, pools: Pools) -> None:
        self.volumes = volumes
        self.pools = pools
        self.slots = pools.slots
        self.stride = _STRIDE % self.slots
        self._inverse = pow(self.stride, -1, self.slots)
        self._shifts = {
            family: DrawSource(seed, "shift", family)
            for family in ("contract", "procurement", "ata", "ata-lag")
        }
        self._days: dict[int, Day] = {}

    def day(self, ordinal: int) -> Day:
        found = self._days.get(ordinal)
        if found is None:
            found = self._days[ordinal] = self._day(ordinal)
        return found

    def slot(self, index: int, shift: int) -> int:
        """The body (index into `pools.orgaos`) of a day's index-th record of a family."""
        return (index * self.stride + shift) % self.slots

    def sequence(self, day: Day, index: int) -> int:
        return day.sequence_base + index // self.slots + 1

    def procurement_number(self, day: Day, index: int) -> str:
        cnpj = self.pools.orgaos[self.slot(index, day.procurement_shift)].cnpj
        return f"{cnpj}-1-{self.sequence(day, index):06d}/{day.year}"

    def procurement_of_body(self, slot: int, ordinal: int, draws: Draws) -> str | None:
        """A procurement by body `slot` published in the 60 days before `ordinal`, if any.

        Contracts use it: inverting a day's permutation gives the first index published
        by that body, which exists if the day had that many procurements.
        """
        start = draws.below(REFERENCE_WINDOW_DAYS)
        for step in range(REFERENCE_WINDOW_DAYS):
            source = self.day(ordinal - 1 - (start + step) % REFERENCE_WINDOW_DAYS)
            index = (slot - source.procurement_shift) * self._inverse % self.slots
            if index < source.procurements:
                cnpj = self.pools.orgaos[slot].cnpj
                return f"{cnpj}-1-{self.sequence(source, index):06d}/{source.year}"
        return None

    def ata_procurement(self, day: Day, index: int) -> tuple[str, int, int]:
        """(procurement number, body slot, ata sequence) of a day's index-th ata.

        Ata `j` points at procurement `j // 60` of the day `1 + (j + shift) % 60` days
        earlier and takes that lag as its sequence, so no two atas share a number. Where
        that procurement does not exist (tiny scales, quiet weekends) the ata points at
        one published before the simulated window, in a sequence range never served.
        """
        lag = 1 + (index + day.ata_lag_shift) % REFERENCE_WINDOW_DAYS
        source, source_index = self.day(day.ordinal - lag), index // REFERENCE_WINDOW_DAYS
        if source_index < source.procurements:
            slot = self.slot(source_index, source.procurement_shift)
            return self.procurement_number(source, source_index), slot, lag
        slot = self.slot(index, day.ata_shift)
        sequence = _PHANTOM_BASE + day.sequence_base // 4 + index // self.slots + 1
        return f"{self.pools.orgaos[slot].cnpj}-1-{sequence:06d}/{day.year}", slot, 1

    def _day(self, ordinal: int) -> Day:
        calendar_day = date.fromordinal(ordinal)
        day_of_year = ordinal - date(calendar_day.year, 1, 1).toordinal() + 1
        offsets, total = {}, 0
        for m in MODALIDADES:
            offsets[m] = total
            total += self.volumes.count(PROCUREMENTS, ordinal, m)
        shift = {
            family: source.draws(ordinal).below(self.slots)
            for family, source in self._shifts.items()
        }
        return Day(
            ordinal=ordinal,
            year=calendar_day.year,
            iso=calendar_day.isoformat(),
            sequence_base=(day_of_year - 1) * SEQUENCE_PER_DAY,
            contract_shift=shift["contract"],
            procurement_shift=shift["procurement"],
            ata_shift=shift["ata"],
            ata_lag_shift=shift["ata-lag"],
            procurements=total,
            offsets=offsets,
        )
