# Sourced by bindings/run-tests.sh and mobile-demo/build.sh (from the repository root): makes
# sure the Kotlin toolchain is installed and sets `jna` (the JNA jar) and `kotlinc`.
# Installs, idempotently, what is missing: JNA from Debian (libjna-java, libjna-jni) and the
# Kotlin compiler from the npm package kotlin-compiler, into bindings/tests/kotlin/.tools.
jna=/usr/share/java/jna.jar
if [ ! -f "$jna" ]; then
  printf -- '--- kotlin toolchain: %s\n' "installing JNA (libjna-java, libjna-jni)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq libjna-java libjna-jni >/dev/null
fi
kotlin_tools=bindings/tests/kotlin/.tools
kotlinc="$kotlin_tools/node_modules/kotlin-compiler/bin/kotlinc"
if [ ! -x "$kotlinc" ]; then
  printf -- '--- kotlin toolchain: %s\n' "installing the Kotlin compiler (npm kotlin-compiler) into $kotlin_tools"
  mkdir -p "$kotlin_tools"
  npm install --prefix "$kotlin_tools" --no-save --no-audit --no-fund --loglevel=error kotlin-compiler >/dev/null
fi
