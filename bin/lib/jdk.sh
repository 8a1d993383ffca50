# Sourced by bin/ scripts: sets JAVA_HOME to a JDK 25+ and puts it first on PATH, or exits 1
# with a one-line error that says what to install.
# Order: $JAVA_HOME if it is 25+, else the newest 25+ JDK under /usr/lib/jvm.

volumes_java_major() { # $1 = a JDK home; prints its feature version or nothing
  local release="$1/release" v
  [ -x "$1/bin/java" ] || return 0
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release")
  else
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  fi
  printf '%s' "$v"
}

volumes_find_jdk() {
  local best="" best_major=0 home major
  if [ -n "${JAVA_HOME:-}" ]; then
    major=$(volumes_java_major "$JAVA_HOME")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      printf '%s' "$JAVA_HOME"
      return 0
    fi
  fi
  for home in /usr/lib/jvm/*; do
    [ -d "$home" ] || continue
    major=$(volumes_java_major "$home")
    if [ -n "$major" ] && [ "$major" -ge 25 ] && [ "$major" -gt "$best_major" ]; then
      best="$home"
      best_major="$major"
    fi
  done
  [ -n "$best" ] && printf '%s' "$best"
}

_volumes_jdk=$(volumes_find_jdk)
if [ -z "$_volumes_jdk" ]; then
  echo "error: volumes needs a JDK 25 or newer: none in JAVA_HOME (${JAVA_HOME:-unset}) or under /usr/lib/jvm; install one (e.g. Temurin 25) and set JAVA_HOME to it" >&2
  exit 1
fi
export JAVA_HOME="$_volumes_jdk"
export PATH="$JAVA_HOME/bin:$PATH"
unset _volumes_jdk
