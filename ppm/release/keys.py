"""Signing keys for the update repository: create, load, rotate.

Two directories, kept apart on purpose:
- the root key directory holds the root keys (ed25519, a threshold of them); it is needed only to
  create or rotate keys, so it can live offline (a USB stick, a vault mount);
- the online key directory holds one key each for targets, snapshot and timestamp: what
  `ppm release` signs with.
Both default to the user's data directory (never the project, the repository or the lock):
$PPM_ROOT_KEY_DIR / $PPM_KEYS_DIR or --root-key-dir / --keys-dir override them. A private key is a
PKCS#8 PEM file named by its key id, mode 0600. The public halves live in root.json.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from ppm.core.errors import PpmError
from ppm.release.tufrepo import (
    ONLINE_ROLES,
    ROLES,
    Expiry,
    RepositoryError,
    TufRepository,
)

if TYPE_CHECKING:
    from securesystemslib.signer import Signer


class KeyStoreError(PpmError):
    """Keys are missing, unreadable, or in a place they must not be."""


def default_key_dirs(project: str) -> tuple[Path, Path]:
    """(root key dir, online key dir) for this project."""
    env_online = os.environ.get("PPM_KEYS_DIR")
    env_root = os.environ.get("PPM_ROOT_KEY_DIR")
    if env_online and env_root:
        return Path(env_root), Path(env_online)
    base = Path(platformdirs.user_data_dir("ppm", appauthor=False)) / "keys" / project
    return (Path(env_root) if env_root else base / "root",
            Path(env_online) if env_online else base / "online")


@dataclass
class KeyDirs:
    root: Path
    online: Path

    def check_outside(self, *places: Path) -> None:
        """Refuse key directories inside the repository or the project: secrets must not be published or committed."""
        for d in (self.root, self.online):
            rd = d.resolve()
            for p in places:
                rp = Path(p).resolve()
                if rd == rp or rp in rd.parents:
                    raise KeyStoreError(f"key directory {d} is inside {p}: private keys must not be published or committed",
                                    hint="choose a directory outside the project (--keys-dir, --root-key-dir)")


def _generate() -> Signer:
    # securesystemslib: heavy, only when keys are made
    from securesystemslib.signer import CryptoSigner

    return CryptoSigner.generate_ed25519()


def _save(signer: Any, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{signer.public_key.keyid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_bytes)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_signers(root_md: Any, role: str, directories: list[Path]) -> list[Signer]:
    """Signers for every key of `role` (per root.json) whose private key is in one of `directories`."""
    # cryptography, securesystemslib: heavy, only when keys are loaded
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    root = root_md.signed if hasattr(root_md, "signed") else root_md
    out: list[Signer] = []
    for keyid in root.roles[role].keyids:
        for d in directories:
            p = d / f"{keyid}.pem"
            if p.is_file():
                try:
                    priv = load_pem_private_key(p.read_bytes(), None)
                except Exception as e:
                    raise KeyStoreError(f"cannot read private key {p}: {e}") from e
                out.append(CryptoSigner(priv, root.keys[keyid]))
                break
    return out


def online_signers(repo: TufRepository, keys_dir: Path) -> dict[str, list[Signer]]:
    root = repo.root()
    signers = {r: load_signers(root, r, [keys_dir]) for r in ONLINE_ROLES}
    missing = [r for r, s in signers.items() if len(s) < root.signed.roles[r].threshold]
    if missing:
        raise KeyStoreError(f"no private key for the {', '.join(missing)} role(s) in {keys_dir}",
                        hint="run `ppm keys init`, or pass --keys-dir (or set PPM_KEYS_DIR) to where the online keys are")
    return signers


@dataclass
class KeysReport:
    root_version: int
    root_dir: Path
    online_dir: Path
    keyids: dict[str, list[str]] = field(default_factory=dict)
    thresholds: dict[str, int] = field(default_factory=dict)
    root_json: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"root_version": self.root_version, "root_key_dir": str(self.root_dir),
                "online_key_dir": str(self.online_dir), "keyids": self.keyids,
                "thresholds": self.thresholds, "root_json": str(self.root_json) if self.root_json else None}


def _report(repo: TufRepository, dirs: KeyDirs) -> KeysReport:
    root = repo.root().signed
    return KeysReport(root.version, dirs.root, dirs.online,
                      {r: list(root.roles[r].keyids) for r in ROLES},
                      {r: root.roles[r].threshold for r in ROLES},
                      repo.metadata_dir / "root.json")


_STRANDS = "a new root strands every installed copy: they refuse all later updates"


def _published_root(url: str) -> bool:
    """Whether a root is published at `url` (an unreachable URL counts: we cannot rule one out)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metadata/1.root.json", timeout=30):
            return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise KeyStoreError(f"cannot tell whether {url} already publishes a root (HTTP {e.code})",
                            hint="check [release] url; nothing was created") from None
    except (urllib.error.URLError, OSError) as e:
        raise KeyStoreError(f"cannot tell whether {url} already publishes a root ({getattr(e, 'reason', e)})",
                            hint="check [release] url and the network; nothing was created") from None


def init_keys(repo: TufRepository, dirs: KeyDirs, *, root_keys: int = 1, threshold: int = 1,
              expiry: Expiry | None = None, new_root: bool = False, published_url: str | None = None) -> KeysReport:
    """Create root and online keys, the first root.json, and an empty signed repository.

    Refuses when this project already has a root (keys in the key directories, a local repository,
    or one published at `published_url`) unless `new_root`: a second root is never made by accident."""
    from tuf.api.metadata import Root  # tuf: heavy, only when a root is made

    expiry = expiry or Expiry()
    if threshold < 1 or root_keys < threshold:
        raise KeyStoreError(f"a threshold of {threshold} needs at least that many root keys (got {root_keys})")
    if repo.exists():
        raise KeyStoreError(f"{repo.path} already has a root.json",
                            hint="use `ppm keys rotate` to change keys; to start over on purpose, move that directory away "
                                 f"and pass --new-root ({_STRANDS})")
    if not new_root:
        held = [d for d in (dirs.root, dirs.online) if d.is_dir() and any(d.glob("*.pem"))]
        if held:
            raise KeyStoreError(f"this project already has signing keys in {', '.join(map(str, held))}, so it has a root; "
                                f"its release repository is missing from {repo.path}",
                                hint="restore the repository there, or set [release] url so `ppm release` restores it; "
                                     f"`ppm keys rotate` changes keys. --new-root only if you mean it: {_STRANDS}")
        if published_url and _published_root(published_url):
            raise KeyStoreError(f"a root is already published at {published_url}",
                                hint="`ppm release` restores the repository from there (with the online keys in "
                                     f"PPM_KEYS_DIR). --new-root only if you mean it: {_STRANDS}")
    root = Root(expires=expiry.for_role("root"), consistent_snapshot=True)
    root_signers = [_generate() for _ in range(root_keys)]
    for s in root_signers:
        root.add_key(s.public_key, "root")
    root.roles["root"].threshold = threshold
    online: dict[str, list[Signer]] = {}
    for role in ONLINE_ROLES:
        s = _generate()
        root.add_key(s.public_key, role)
        online[role] = [s]
    for s in root_signers:
        _save(s, dirs.root)
    for ss in online.values():
        _save(ss[0], dirs.online)
    repo.write_root(root, root_signers)
    repo.init_online(root, online, expiry)
    return _report(repo, dirs)


def rotate_keys(repo: TufRepository, dirs: KeyDirs, roles: list[str], *, root_keys: int | None = None,
                threshold: int | None = None, expiry: Expiry | None = None) -> KeysReport:
    """Replace the keys of `roles` with new ones in a new root version, signed by a threshold of
    the current root keys and of the new ones (so clients can follow the chain). Retired private
    keys move to a `retired/` subdirectory for you to destroy."""
    expiry = expiry or Expiry()
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise KeyStoreError(f"unknown role(s) {', '.join(unknown)}", hint=f"choose from {', '.join(ROLES)}")
    current = repo.root()
    old_root_signers = load_signers(current, "root", [dirs.root])
    need = current.signed.roles["root"].threshold
    if len(old_root_signers) < need:
        raise KeyStoreError(f"rotating needs {need} of the current root keys, found {len(old_root_signers)} in {dirs.root}",
                        hint="pass --root-key-dir (or set PPM_ROOT_KEY_DIR) to where the root keys are")
    root = current.signed
    root.version += 1
    root.expires = expiry.for_role("root")
    retired: list[tuple[str, Path]] = []
    new_signers: dict[str, list[Signer]] = {}
    for role in roles:
        d = dirs.root if role == "root" else dirs.online
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
            retired.append((keyid, d))
        count = (root_keys or len(old_root_signers) or 1) if role == "root" else 1
        new_signers[role] = [_generate() for _ in range(count)]
        for s in new_signers[role]:
            root.add_key(s.public_key, role)
        if role == "root" and threshold is not None:
            root.roles["root"].threshold = threshold
    if threshold is not None and "root" not in roles:
        root.roles["root"].threshold = threshold
    if root.roles["root"].threshold > len(root.roles["root"].keyids):
        raise KeyStoreError(f"root threshold {root.roles['root'].threshold} is more than its {len(root.roles['root'].keyids)} key(s)")
    # Save new private keys before the root that names them is published, or a crash would lock us out.
    for role, ss in new_signers.items():
        for s in ss:
            _save(s, dirs.root if role == "root" else dirs.online)
    root_signers = old_root_signers + new_signers.get("root", [])
    repo.write_root(root, root_signers)
    # Online metadata must be re-signed by the keys the new root names.
    repo.publish(online_signers(repo, dirs.online), expiry)
    for keyid, d in retired:
        p = d / f"{keyid}.pem"
        if p.is_file() and not any(keyid in root.roles[r].keyids for r in ROLES):
            (d / "retired").mkdir(mode=0o700, exist_ok=True)
            os.replace(p, d / "retired" / p.name)
    return _report(repo, dirs)


__all__ = ["KeyDirs", "KeyStoreError", "KeysReport", "RepositoryError", "default_key_dirs", "init_keys",
           "load_signers", "online_signers", "rotate_keys"]
