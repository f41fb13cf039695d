"""Shell completion scripts, generated from the argparse parser so new commands are covered."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh")


def _words(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, argparse.ArgumentParser]]:
    """The options of `parser` and its subcommands (name -> parser)."""
    options: list[str] = []
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
        else:
            options.extend(action.option_strings)
    return options, commands


def _cases(parser: argparse.ArgumentParser, path: str, out: list[str]) -> None:
    options, commands = _words(parser)
    words = " ".join([*commands, *options])
    out.append(f'    "{path}") opts="{words}" ;;')
    for name, sub in commands.items():
        _cases(sub, f"{path} {name}".strip(), out)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` (bash; zsh through bashcompinit)."""
    prog = parser.prog
    cases: list[str] = []
    _cases(parser, "", cases)
    _options, top = _words(parser)
    names = sorted({*top, *(n for sub in top.values() for n in _words(sub)[1])})
    body = f"""_{prog}_complete() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" word opts i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${{COMP_WORDS[i]}}"
    case "$word" in
      {"|".join(names)}) path="${{path:+$path }}$word" ;;
    esac
  done
  case "$path" in
{chr(10).join(cases)}
    *) opts="" ;;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}}
complete -o default -F _{prog}_complete {prog}
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body
