"""The device check's results: one :class:`Check` per thing checked, written as JSON and Markdown.

Status: PASS / FAIL (a bound was not met, or it broke), SKIP (not possible here, with why), INFO
(a measurement with nothing to pass).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("PASS", "FAIL", "SKIP", "INFO")


@dataclass
class Check:
    name: str
    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<26} {self.summary}"


@dataclass
class Report:
    settings: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, check: Check, echo: bool = True) -> Check:
        self.checks.append(check)
        if echo:
            print(check.line(), flush=True)
        return check

    @property
    def ok(self) -> bool:
        return not any(c.status == "FAIL" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": 1, "ok": self.ok, "seconds": round(time.time() - self.started, 1),
                "settings": self.settings, "environment": self.environment,
                "checks": [asdict(c) for c in self.checks]}

    def markdown(self) -> str:
        lines = [f"# Device check ({self.settings.get('device')}, {'quick' if self.settings.get('quick') else 'full'})",
                 "", f"{round(time.time() - self.started, 1)} s in all; "
                 + ", ".join(f"{k} {v}" for k, v in self.environment.items() if isinstance(v, str)), "",
                 "| check | status | result | seconds |", "| --- | --- | --- | ---: |"]
        lines += [f"| {c.name} | {c.status} | {c.summary.replace('|', chr(92) + '|')} | "
                  f"{f'{c.seconds:.1f}' if c.seconds else ''} |" for c in self.checks]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        from rexrank.files import atomic_write_text

        data = atomic_write_text(out_dir / "device_check.json", json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return data, atomic_write_text(out_dir / "device_check.md", self.markdown())
