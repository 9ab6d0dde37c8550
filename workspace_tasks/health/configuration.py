"""Configuration files: present, parsing, complete.

The user's file and every defaults file ``init`` writes (dev, test and
prod) must exist (``--fix-issues`` creates a missing user file from
``config/local-overrides.toml.example`` and a missing defaults file as
``init`` writes it); every layer must parse; the merged configuration must
name a default provider.
"""

from __future__ import annotations

import re
from pathlib import Path

from workspace_tasks import init, safefs, settings
from workspace_tasks.context import ENV_OF_TYPE, Workspace
from workspace_tasks.errors import FileSyntaxError
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.problems import Problem

EXAMPLE = "local-overrides.toml.example"
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def config_layers(ws: Workspace) -> list[Path]:
    """Return the layer files of the cascade, overrides included, lowest first."""
    from workspace_tasks.cascade import layer_sources

    sources = layer_sources(ws, "user", include_overrides=True)
    return [source.path for source in sources if source.path is not None]


def check_configuration(ws: Workspace, fix: bool = False) -> ComponentResult:
    """Check the configuration files; create missing ones when ``fix``."""
    result = ComponentResult("configuration")
    conclude(ws, result, _missing_files(ws), fix)

    # Parsed after the repairs, so a file just created counts as present.
    found = _config_problems(ws)
    problems = [problem for _, problem in found]
    if problems:
        result.recommendations += advice(found)
    else:
        problems = _completeness_problems(ws)
        if problems:
            result.recommendations.append(
                f"Set [infra] default_provider in {relative(ws, ws.user_config)}"
            )
    result.problems += problems
    present = [p for p in config_layers(ws) if p.is_file()]
    result.figures["layers"] = len(present)
    result.details["layers"] = [relative(ws, p) for p in present]
    return result


def required_files(ws: Workspace) -> list[Path]:
    """Return the configuration files that must exist: every defaults file
    ``init`` writes (``config/<env>-defaults.toml`` of each workspace type)
    and the user's own file.
    """
    defaults = sorted(
        ws.config_dir / f"{env}-defaults.toml" for env in ENV_OF_TYPE.values()
    )
    return list(dict.fromkeys([ws.workspace_defaults, *defaults, ws.user_config]))


def _missing_files(ws: Workspace) -> list[Finding]:
    findings = []
    for path in required_files(ws):
        if safefs.entry_kind(path) is not None:
            continue  # what stands there instead of a file is reported as such
        name = relative(ws, path)
        source, data = _default_content(ws, path)
        what = "user configuration" if path == ws.user_config else "defaults file"
        problem = Problem(f"Missing {what} {name}", severity="warning")
        if data is None:
            findings.append(Finding(problem))
            continue
        done = f"Created missing {what} {name} from {source}"
        findings.append(Finding(problem, Repair("create-file", path, done, data=data)))
    return findings


def _default_content(ws: Workspace, path: Path) -> tuple[str, bytes | None]:
    example = ws.config_dir / EXAMPLE
    if path == ws.user_config and example.is_file() and not example.is_symlink():
        return relative(ws, example), safefs.read_regular(example)
    planned = init.generated_file(ws, relative(ws, path))
    if planned is None:
        return "", None
    return "the shipped template", planned.data


def _config_problems(ws: Workspace) -> list[tuple[str, Problem]]:
    """Return every layer's problems (syntax, schema types, references), kinds."""
    from workspace_tasks.config_validation import classified_problems

    return classified_problems(ws)


def advice(found: list[tuple[str, Problem]]) -> list[str]:
    """Return one recommendation per kind of problem, naming its files."""
    from workspace_tasks import config_validation as kinds

    remedies = {
        kinds.SYNTAX: "Fix the configuration syntax in {where}",
        kinds.UNREADABLE: "Put a regular TOML file (at most 16 MiB) at {where}",
        kinds.TYPE: "Give the values the schema refuses in {where} their right "
        "type (see 'workspace config validate')",
        kinds.REFERENCE: "Fix the ${{...}} references in {where} (a cycle, a "
        "missing key, an unset variable or an expansion too large)",
        kinds.UNKNOWN_SECTION: "Check the unknown sections in {where}: fix a "
        "misspelt name or remove the section",
        kinds.WORKSPACE: "Remove [workspace] type and user from {where} or make "
        "them agree with the workspace",
    }
    files: dict[str, dict[str, None]] = {}
    for kind, problem in found:
        files.setdefault(kind, {})[str(problem.file or "the configuration")] = None
    return [
        remedies[kind].format(where=", ".join(names))
        + ", then run 'workspace health check-config'"
        for kind, names in files.items()
    ]


def toml_syntax_problem(name: str, text: str) -> Problem:
    """Turn the text of a TOMLDecodeError into a problem with line and column."""
    match = _POSITION.search(text)
    if match is None:
        return Problem(f"invalid TOML: {text}", file=name)
    message = f"invalid TOML: {text[: match.start()]}"
    return Problem(message, file=name, line=int(match[1]), column=int(match[2]))


def _completeness_problems(ws: Workspace) -> list[Problem]:
    try:
        provider = settings.setting(ws, "infra.default_provider")
    except FileSyntaxError:
        return []
    if isinstance(provider, str) and provider.strip():
        return []
    return [Problem("User configuration missing default provider", severity="warning")]
