"""``mspviewer profiles``: the encoding profiles, one line each (``--json``: every field)."""

from __future__ import annotations

from mspviewer.codec.profiles import load_profiles


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "profiles", help="list the encoding profiles (use with `encode --profile NAME`)")
    parser.add_argument("--file", default=None,
                        help="read the profiles from this JSON file instead of the shipped one")
    parser.set_defaults(func=run)


def run(args) -> dict:
    profiles = load_profiles(args.file)
    if getattr(args, "json", False):
        return {"profiles": [profile.to_dict() for profile in profiles.values()]}
    return {name: profile.description for name, profile in profiles.items()}
