#!/bin/sh
# Installer for daplaya, the deploy lock on DynamoDB.
#
#   curl -fsSL https://raw.githubusercontent.com/<OWNER/NAME>/main/scripts/install.sh | sh
#
# where OWNER/NAME is the repository named on the RELEASE LOCATION line below.
#
# It downloads the release binary for this machine, verifies it against the
# release's SHA256SUMS and installs it atomically as $DAPLAYA_INSTALL_DIR/daplaya.
#
# Environment (all optional):
#   DAPLAYA_VERSION       version to install, e.g. 1.2.3 (default: the latest release)
#   DAPLAYA_INSTALL_DIR   where to install (default: $HOME/.local/bin)
#   DAPLAYA_REPO          GitHub repository (OWNER/NAME) whose releases to install
#                         (default: the RELEASE LOCATION line below)
#   DAPLAYA_DOWNLOAD_URL  releases base URL (default: https://github.com/$DAPLAYA_REPO/releases),
#                         for a mirror; assets are fetched from <base>/latest/download/<asset>,
#                         or <base>/download/v<version>/<asset> when DAPLAYA_VERSION is set
#   DAPLAYA_OS            overrides `uname -s` (Linux, Darwin) - for tests, or to fetch
#                         another platform's binary
#   DAPLAYA_ARCH          overrides `uname -m` (x86_64/amd64, aarch64/arm64)
#   DAPLAYA_LIBC          overrides the libc detection on Linux: gnu or musl (for tests)
#
# Everything runs from main() at the very end, so a download of this script cut
# short by the network executes nothing.

set -eu

# The one place that names where daplaya is released; README.md and its tests follow it.
# A fork that publishes its own releases changes this line (see README.md, "Install").
DAPLAYA_REPO="${DAPLAYA_REPO:-da-playa/daplaya}" # RELEASE LOCATION: GitHub OWNER/NAME

DEFAULT_DOWNLOAD_URL="https://github.com/$DAPLAYA_REPO/releases"

# Temp files to remove on exit; set once they exist.
tmp_bin=""
tmp_sums=""

say() {
	printf 'daplaya-install: %s\n' "$*" >&2
}

die() {
	printf 'daplaya-install: error: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	if [ -n "$tmp_bin" ]; then rm -f "$tmp_bin"; fi
	if [ -n "$tmp_sums" ]; then rm -f "$tmp_sums"; fi
}

has() {
	command -v "$1" >/dev/null 2>&1
}

# True when this (Linux) host uses musl rather than glibc.
host_is_musl() {
	if [ -f /etc/alpine-release ]; then
		return 0
	fi
	if has ldd && ldd --version 2>&1 | grep -qi musl; then
		return 0
	fi
	# No glibc dynamic loader at all (e.g. a musl or static-only image).
	for loader in /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* /lib/*-linux-gnu/ld-linux-*.so.* \
		/usr/lib64/ld-linux-*.so.* /usr/lib/*-linux-gnu/ld-linux-*.so.*; do
		if [ -e "$loader" ]; then
			return 1
		fi
	done
	return 0
}

# True when $1 looks like a GitHub repository OWNER/NAME.
is_repo() {
	case "$1" in
	*/*/* | /* | */ | *[!A-Za-z0-9._/-]*) return 1 ;;
	?*/?*) return 0 ;;
	*) return 1 ;;
	esac
}

# Prints the release asset name for this OS/arch, or dies with a one-line reason.
detect_asset() {
	os="${DAPLAYA_OS:-$(uname -s)}"
	arch="${DAPLAYA_ARCH:-$(uname -m)}"

	case "$arch" in
	x86_64 | amd64 | x64) cpu="x86_64" ;;
	aarch64 | arm64) cpu="aarch64" ;;
	*) die "unsupported architecture '$arch' on $os: daplaya ships binaries for x86_64 and aarch64 (arm64)" ;;
	esac

	case "$os" in
	Linux | linux)
		libc="${DAPLAYA_LIBC:-}"
		if [ -z "$libc" ]; then
			libc="gnu"
			# Only look at the host's libc when installing for the host's OS.
			if [ "$(uname -s)" = "Linux" ] && host_is_musl; then
				libc="musl"
			fi
		fi
		case "$libc" in
		gnu | glibc) ;;
		musl) die "daplaya needs glibc, but this system uses musl libc (Alpine?): use a glibc-based system or image such as Debian/Ubuntu or gcr.io/distroless/cc" ;;
		*) die "unknown DAPLAYA_LIBC '$libc' (expected gnu or musl)" ;;
		esac
		printf '%s\n' "daplaya-$cpu-unknown-linux-gnu"
		;;
	Darwin | darwin | macos | macOS)
		# A shell running under Rosetta 2 reports x86_64 on Apple silicon:
		# prefer the native binary unless the arch was given explicitly.
		if [ -z "${DAPLAYA_ARCH:-}" ] && [ "$cpu" = "x86_64" ] &&
			[ "$(sysctl -n hw.optional.arm64 2>/dev/null || true)" = "1" ]; then
			cpu="aarch64"
		fi
		printf '%s\n' "daplaya-$cpu-apple-darwin"
		;;
	MINGW* | MSYS* | CYGWIN* | Windows_NT)
		die "this installer does not support Windows: download daplaya-x86_64-pc-windows-msvc.exe from ${DAPLAYA_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}"
		;;
	*) die "unsupported operating system '$os': daplaya ships binaries for Linux (glibc) and macOS" ;;
	esac
}

# download URL FILE
download() {
	if has curl; then
		curl -fsSL -o "$2" "$1" || die "download failed: $1"
	elif has wget; then
		wget -q -O "$2" "$1" || die "download failed: $1"
	else
		die "neither curl nor wget is installed"
	fi
}

# Prints the lowercase hex SHA-256 of FILE.
sha256_of() {
	if has sha256sum; then
		sum_line=$(sha256sum "$1")
	elif has shasum; then
		sum_line=$(shasum -a 256 "$1")
	elif has openssl; then
		sum_line=$(openssl dgst -sha256 -r "$1")
	else
		die "no sha256sum, shasum or openssl to verify the download with"
	fi
	printf '%s\n' "${sum_line%% *}" | tr 'ABCDEF' 'abcdef'
}

# Prints the hex digest listed for NAME in a sha256sum-format FILE, or nothing.
expected_sha256() {
	awk -v name="$1" '
		{ sub(/\r$/, "") }
		($2 == name || $2 == "*" name) { print tolower($1); exit }
	' "$2"
}

main() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	if [ -z "${DAPLAYA_DOWNLOAD_URL:-}" ] && ! is_repo "$DAPLAYA_REPO"; then
		die "DAPLAYA_REPO '$DAPLAYA_REPO' is not a GitHub repository OWNER/NAME"
	fi

	asset=$(detect_asset)

	base="${DAPLAYA_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}"
	base="${base%/}"
	version="${DAPLAYA_VERSION:-}"
	version="${version#v}"
	if [ -n "$version" ]; then
		url_dir="$base/download/v$version"
	else
		url_dir="$base/latest/download"
	fi

	if [ -n "${DAPLAYA_INSTALL_DIR:-}" ]; then
		dir="$DAPLAYA_INSTALL_DIR"
	elif [ -n "${HOME:-}" ]; then
		dir="$HOME/.local/bin"
	else
		die "HOME is not set: set DAPLAYA_INSTALL_DIR to the directory to install into"
	fi
	while [ "$dir" != "/" ] && [ "${dir%/}" != "$dir" ]; do
		dir="${dir%/}"
	done
	dest="$dir/daplaya"

	mkdir -p "$dir" || die "cannot create $dir"
	# Temp files live in the install directory so the final mv is an atomic rename.
	tmp_bin=$(mktemp "$dir/.daplaya.XXXXXX") || die "cannot write to $dir"
	tmp_sums=$(mktemp "$dir/.daplaya-sums.XXXXXX") || die "cannot write to $dir"

	say "downloading $url_dir/$asset"
	download "$url_dir/$asset" "$tmp_bin"
	download "$url_dir/SHA256SUMS" "$tmp_sums"

	want=$(expected_sha256 "$asset" "$tmp_sums")
	if [ -z "$want" ]; then
		die "SHA256SUMS has no entry for $asset: refusing to install"
	fi
	got=$(sha256_of "$tmp_bin")
	if [ "$got" != "$want" ]; then
		die "checksum mismatch for $asset (expected $want, got $got): refusing to install"
	fi

	chmod 755 "$tmp_bin"
	mv -f "$tmp_bin" "$dest"
	tmp_bin=""

	say "installed $dest"
	if ! "$dest" --version; then
		say "warning: '$dest --version' failed; the binary may not run on this system"
	fi

	case ":${PATH:-}:" in
	*":$dir:"*) ;;
	*)
		say "note: $dir is not in your PATH; add it to your shell profile:"
		say "  export PATH=\"$dir:\$PATH\""
		;;
	esac
}

main "$@"
