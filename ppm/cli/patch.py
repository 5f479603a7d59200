"""ppm patch make|apply|info: binary patches between two releases of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ppm.cli import patchfast


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.2f} MiB"


def _parse_size(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return patchfast.parse_size(text)
    except ValueError:
        raise typer.BadParameter(f"not a size: {text!r} (say 512M, 2G or a number of bytes)") from None


def _print_info(info: object) -> None:
    d = info.to_dict()  # type: ignore[attr-defined]
    print(f"method       {d['method']} (format {d['format_version']})")
    if d["transform"] != "none":
        print(f"transform    {d['transform']} references, descriptor {d['descriptor_size']} bytes")
    print(f"old          {d['old_size']} bytes  sha256 {d['old_sha256']}")
    print(f"new          {d['new_size']} bytes  sha256 {d['new_sha256']}")
    print(f"patch        {d['patch_size']} bytes ({_mib(d['patch_size'])})")
    print(f"decoding     needs {d['memory_need']} bytes ({_mib(d['memory_need'])}), zstd window 2^{d['window_log']}")


def register(app: typer.Typer) -> None:
    patch_app = typer.Typer(help="Make, inspect and apply binary patches between releases.", no_args_is_help=True)
    app.add_typer(patch_app, name="patch")

    @patch_app.command("make")
    def make(
        old: Annotated[Path, typer.Argument(help="The release users have.")],
        new: Annotated[Path, typer.Argument(help="The release to patch them to.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the patch.")],
        level: Annotated[int, typer.Option("--level", "-l", help="zstd level of the patch's stream (1-22).")] = 19,
        method: Annotated[
            str, typer.Option("--method", "-m", help="auto, hdiff, zstd, or best (make every variant, keep the smallest).")
        ] = "auto",
        transform: Annotated[
            bool | None,
            typer.Option(
                "--transform/--no-transform",
                help="Rewrite executables' code and data references before diffing (ELF, PE, Mach-O; x86-64, arm64). "
                "Default: whenever both files are such executables with different code. The patch is then format 2, "
                "which older ppm refuses to read.",
            ),
        ] = None,
        max_memory: Annotated[
            str | None, typer.Option("--max-memory", help="Refuse methods that would need more memory (e.g. 4G).")
        ] = None,
        compare: Annotated[bool, typer.Option("--compare/--no-compare", help="Also zstd-compress NEW to report the saving.")] = True,
        json_out: Annotated[bool, typer.Option("--json", help="Print the patch's header as JSON.")] = False,
    ) -> None:
        """Make a patch that turns OLD into NEW."""
        import json
        import time

        from ppm import delta
        from ppm.cli import ui

        start = time.perf_counter()
        info = delta.make_patch(
            old, new, output, level=level, method=method, transform=transform, max_memory=_parse_size(max_memory), progress=ui.info
        )
        seconds = time.perf_counter() - start
        full = delta.compressed_size(new, level=level) if compare else None
        if json_out:
            print(json.dumps({**info.to_dict(), "seconds": round(seconds, 3), "new_zstd_size": full}, indent=2))
            return
        how = info.method if info.transform == "none" else f"{info.method} + {info.transform} transform (format {info.format_version})"
        print(f"wrote {output}: {info.patch_size} bytes ({_mib(info.patch_size)}) by {how} in {seconds:.1f} s")
        print(f"  new file      {info.new_size} bytes; patch is {100 * info.patch_size / max(info.new_size, 1):.1f}% of it")
        if full is not None:
            print(f"  new, zstd -{level} {full} bytes; patch is {100 * info.patch_size / max(full, 1):.1f}% of it")
        print(f"  applying needs {_mib(info.memory_need)}")

    @patch_app.command("apply")
    def apply(
        old: Annotated[Path, typer.Argument(help="The file the patch was made from.")],
        patch: Annotated[Path, typer.Argument(help="The patch.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the new file (replaced atomically).")],
        max_memory: Annotated[
            str | None, typer.Option("--max-memory", help="Refuse a patch that needs more memory (e.g. 512M).")
        ] = None,
    ) -> None:
        """Apply PATCH to OLD; the old file's and the result's sha256 are checked."""
        import time

        from ppm import delta

        start = time.perf_counter()
        delta.apply_patch(old, patch, output, max_memory=_parse_size(max_memory))
        print(f"wrote {output} in {time.perf_counter() - start:.2f} s")

    @patch_app.command("info")
    def info(
        patch: Annotated[Path, typer.Argument(help="The patch.")],
        json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    ) -> None:
        """Show what a patch turns into what, and what applying it needs."""
        import json

        from ppm import delta

        i = delta.patch_info(patch)
        if json_out:
            print(json.dumps(i.to_dict(), indent=2))
        else:
            _print_info(i)
