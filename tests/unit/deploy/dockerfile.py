"""What the Dockerfile promises the deployments: the user the services run as and the
directories that user owns."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Image:
    uid: int
    env: dict[str, str]
    owned_dirs: tuple[PurePosixPath, ...]   # chown'ed to the user

    def writable(self, path: str | PurePosixPath) -> bool:
        return any(PurePosixPath(path).is_relative_to(d) for d in self.owned_dirs)


def image() -> Image:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    user = re.findall(r"^USER\s+(\S+)", text, re.M)[-1]
    assert user.isdigit(), "USER must be numeric, or Kubernetes cannot verify runAsNonRoot"
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", text, re.M):
        env.update(re.findall(r"(\w+)=(\S+)", line))
    owned = tuple(PurePosixPath(p) for p in re.findall(rf"chown\s+(?:-R\s+)?{user}(?::\S+)?\s+(\S+)", text))
    return Image(int(user), env, owned)
