"""``lockers prompts ...``: build the spoken prompts with espeak-ng, check they are complete."""

from __future__ import annotations

import typer
from rich.console import Console

from lockers.cli._common import state

_LANGUAGE = typer.Option(
    None, "--language", "-l", help="ko or en (default: both; the screen can switch language)"
)


def _languages(language: str | None) -> tuple[str, ...]:
    from lockers.i18n import LANGUAGES

    if language is None:
        return LANGUAGES
    if language not in LANGUAGES:
        raise typer.BadParameter(f"{language!r} is not one of {', '.join(LANGUAGES)}")
    return (language,)


def register(app: typer.Typer) -> None:
    """Add the ``prompts`` command group to the root app."""
    prompts_app = typer.Typer(
        help="Spoken prompts of the accessibility mode: build (espeak-ng), check."
    )
    prompts_app.info.no_args_is_help = True
    app.add_typer(prompts_app, name="prompts")

    @prompts_app.command("build")
    def build(
        ctx: typer.Context,
        language: str | None = _LANGUAGE,
        force: bool = typer.Option(False, "--force", help="rebuild every prompt, changed or not"),
        jobs: int = typer.Option(2, "--jobs", min=1, max=32, help="espeak-ng processes at once"),
    ) -> None:
        """Speak every text of the kiosk (and the numbers and letters of its fields) into
        <data_dir>/prompts/<language>/ with espeak-ng; only changed texts are rebuilt."""
        from lockers.prompts import build_language, built_dir_of

        settings = state(ctx).settings()
        out = Console(highlight=False, soft_wrap=True)
        built_dir = built_dir_of(settings)
        for lang in _languages(language):
            with out.status(f"speaking the {lang} prompts…", spinner="dots"):
                report = build_language(built_dir, lang, force=force, jobs=jobs)
            removed = f", {len(report.removed)} removed" if report.removed else ""
            out.print(
                f"{lang}: {len(report.built)} built, {report.kept} unchanged{removed} "
                f"→ {built_dir / lang}"
            )
        if settings.accessibility.prompts_dir is not None:
            out.print(
                f"the site's recordings in {settings.accessibility.prompts_dir} are played "
                "before these"
            )

    @prompts_app.command("check")
    def check(ctx: typer.Context, language: str | None = _LANGUAGE) -> None:
        """List missing or outdated prompts (exit code 1 when any); the doctor checks the same
        for ui.language."""
        from lockers.prompts import PromptLibrary

        settings = state(ctx).settings()
        library = PromptLibrary.from_settings(settings)
        out = Console(highlight=False, soft_wrap=True)
        incomplete = False
        for lang in _languages(language):
            found = library.completeness(lang)
            site = f" ({found.site} from the site's recordings)" if found.site else ""
            if found.complete:
                out.print(f"{lang}: all {found.total} prompts present and current{site}")
                continue
            incomplete = True
            out.print(
                f"{lang}: {len(found.missing)} missing, {len(found.stale)} outdated "
                f"of {found.total}{site}"
            )
            for label, names in (("missing", found.missing), ("outdated", found.stale)):
                if names:
                    out.print(f"  {label}: " + ", ".join(names[:20]) + (" …" * (len(names) > 20)))
            out.print(f"  fix: lockers prompts build --language {lang}")
        if incomplete:
            raise typer.Exit(1)
