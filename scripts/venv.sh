# Shared by scripts/serve and scripts/test: create .venv and install into it, from the lock
# only, whenever the lock changed since the last install:
#   telex_venv ""      requirements/serve.lock, then the project (what `telex serve` needs)
#   telex_venv test    requirements/test.lock, then the project (the suite, linters, peers)
# Every package comes pinned with its hashes (--require-hashes), the project itself is built
# with the locked setuptools (--no-build-isolation), and nothing resolves anything: a release
# published today changes nothing here. Refresh the locks with scripts/lock.
telex_venv() {
  local extras="$1"
  local lock="requirements/${extras:-serve}.lock"
  local stamp=".venv/.telex-installed-${extras:-serve}"
  local want
  # The C sources count too: the install compiles them (the TURN relay's native data path).
  want="$(cat "$lock" pyproject.toml src/telex/turn/*.c | sha256sum | cut -d' ' -f1)"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing $lock into .venv"
    .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r "$lock" \
      2> >(grep -v "^WARNING: Location" >&2)
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . \
      2> >(grep -v "^WARNING: Location" >&2)
    echo "$want" > "$stamp"
  fi
}
