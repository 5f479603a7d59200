"""Maven repositories: `maven-metadata.xml` for versions, POMs at
`<group path>/<artifact>/<v>/<artifact>-<v>.pom`, and `.sha256` / `.sha1` sidecars for hashes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.registries.http import HttpClient, NotFound

ECO = "maven"


def strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


class MavenClient:
    def __init__(self, http: HttpClient, repo_url: str) -> None:
        self.http = http
        self.url = repo_url

    def base(self, group: str, artifact: str) -> str:
        return f"{self.url}{group.replace('.', '/')}/{artifact}/"

    def file_url(self, group: str, artifact: str, version: str, ext: str) -> str:
        return f"{self.base(group, artifact)}{version}/{artifact}-{version}.{ext}"

    def versions(self, group: str, artifact: str) -> list[str]:
        url = self.base(group, artifact) + "maven-metadata.xml"
        try:
            root = strip_ns(ET.fromstring(self.http.get(url, ecosystem=ECO, package=f"{group}:{artifact}").content))
        except NotFound:
            raise RegistryError(ECO, f"{group}:{artifact}", "no such artifact", url=url) from None
        except ET.ParseError:
            raise RegistryError(ECO, f"{group}:{artifact}", "maven-metadata.xml is not XML", url=url) from None
        return [v.text.strip() for v in root.iter("version") if v.text]

    def pom(self, group: str, artifact: str, version: str) -> ET.Element:
        url = self.file_url(group, artifact, version, "pom")
        try:
            body = self.http.get(url, ecosystem=ECO, package=f"{group}:{artifact}").content
        except NotFound:
            raise RegistryError(ECO, f"{group}:{artifact}", f"no POM for version {version}", url=url) from None
        try:
            return strip_ns(ET.fromstring(body))
        except ET.ParseError as e:
            raise RegistryError(ECO, f"{group}:{artifact}", f"POM of {version} is not XML ({e})", url=url) from None

    def prefetch_poms(self, gavs: list[tuple[str, str, str]]) -> None:
        self.http.fetch_many((self.file_url(g, a, v, "pom"), ECO, f"{g}:{a}", "*/*") for g, a, v in gavs)

    def prefetch_checksums(self, urls: list[tuple[str, str]]) -> None:
        self.http.fetch_many((f"{u}.{algo}", ECO, pkg, "*/*") for u, pkg in urls for algo in ("sha256", "sha1"))

    def checksum(self, url: str, package: str) -> str | None:
        """'sha256:<hex>' from the sidecar, else 'sha1:<hex>', else None."""
        for algo in ("sha256", "sha1"):
            try:
                text = self.http.get(f"{url}.{algo}", ecosystem=ECO, package=package).text.strip()
            except (NotFound, RegistryError):
                continue
            if text:
                return f"{algo}:{text.split()[0].lower()}"
        return None
