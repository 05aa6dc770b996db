#!/bin/sh
# check-man.sh - what `make check-man` checks (mk/man.mk runs it from the top
# of the tree):
#
#   1. every page lints clean: `mandoc -T lint -W warning` when mandoc is
#      installed, and groff through `man --warnings -E UTF-8 -l` when man-db
#      is; either one reporting anything fails the check;
#   2. every NAME section parses for the whatis database (lexgrog), and
#      every page's .TH says "pidkit VERSION";
#   3. every exported symbol of the shared object (nm -D --defined-only) has
#      a man/man3/NAME.3 (the family page, or a .so link to it) whose target
#      names it in NAME and declares it in SYNOPSIS; every PIDKIT_* macro of
#      the header is documented in some section 3 page; every .so link
#      points to a page that exists;
#   4. the C programs in the EXAMPLES sections compile with -Wall -Wextra
#      -Werror against include/pidkit.h and the built library, and the quick
#      ones run;
#   5. given the pidkit tool, pidkit(1) names every command of `pidkit
#      --help` and every option of `pidkit COMMAND --help`.
#
# usage: man/check-man.sh LIBRARY HEADER VERSION OUTDIR [PIDKIT]
# (CC from the environment; OUTDIR receives the extracted examples)
set -u
lib=${1:?usage: check-man.sh LIBRARY HEADER VERSION OUTDIR}
header=${2:?}
version=${3:?}
out=${4:?}
cli=${5:-}
CC=${CC:-cc}
fail=0
err() { echo "check-man: $*" >&2; fail=1; }

cd man || exit 1
pages=$(ls man1/*.1 man3/*.3 man7/*.7)
real_pages=$(for p in $pages; do head -n1 "$p" | grep -q '^\.so ' || echo "$p"; done)

# 1. lint
linters=
if command -v mandoc >/dev/null 2>&1; then
    linters="mandoc"
    # Not the .so link pages: mandoc warns about every .so ("fragile, better
    # use ln(1)"), while the links are what man-db and dh_installman expect
    # (the Debian packages turn them into symlinks). Part 3 checks them, and
    # groff below reads each one through its .so.
    for p in $real_pages; do
        msg=$(mandoc -T lint -W warning "$p" 2>&1) || [ -n "$msg" ] || msg="mandoc exited $?"
        [ -z "$msg" ] || err "mandoc: $msg"
    done
fi
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
    linters="$linters groff"
    for p in $pages; do
        msg=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null)
        [ -z "$msg" ] || err "groff: $p: $msg"
    done
fi
[ -n "$linters" ] || err "neither mandoc nor man/groff is installed: nothing can lint the pages"

# 2. NAME sections and .TH
for p in $real_pages; do
    if command -v lexgrog >/dev/null 2>&1; then
        lexgrog "$p" >/dev/null 2>&1 || err "$p: lexgrog cannot parse its NAME section"
    fi
    th=$(grep -m1 '^\.TH ' "$p")
    case $th in
        *"\"pidkit $version\""*) ;;
        *) err "$p: .TH does not say \"pidkit $version\": $th" ;;
    esac
done

# 3. coverage
name_of() { # the NAME section of page $1, \% and \- removed
    sed -n '/^\.SH NAME/,/^\.SH/p' "$1" | sed -e 's/\\%//g' -e 's/\\-/-/g'
}
syms=$(nm -D --defined-only "../$lib" | awk '$3 ~ /^pidkit_/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
[ -n "$syms" ] || err "no pidkit_* symbols in $lib"
for s in $syms; do
    page=man3/$s.3
    if [ ! -f "$page" ]; then err "$s: no man/$page"; continue; fi
    target=$page
    if head -n1 "$page" | grep -q '^\.so '; then
        target=$(sed -n '1s/^\.so //p' "$page")
    fi
    [ -f "$target" ] || { err "$page: .so target $target does not exist"; continue; }
    name_of "$target" | grep -qw -- "$s" || err "$s: not in the NAME section of man/$target"
    sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$target" | grep -q "$s(" || err "$s: not in the SYNOPSIS of man/$target"
done
for p in man3/*.3; do
    if head -n1 "$p" | grep -q '^\.so '; then
        t=$(sed -n '1s/^\.so //p' "$p")
        [ -f "$t" ] || err "$p: .so target $t does not exist"
        [ "$(wc -l < "$p")" -eq 1 ] || err "$p: a link page holds the .so line only"
    fi
done
for m in $(grep -o '^#define PIDKIT_[A-Z0-9_]*' "../$header" | sed 's/#define //' | grep -vx PIDKIT_H | sort -u); do
    cat man3/*.3 | sed 's/\\//g' | grep -qw -- "$m" || err "$m (include/pidkit.h) is in no section 3 page"
done

# 4. examples
cd .. || exit 1
mkdir -p "$out"
libdir=$(dirname "$lib")
for p in $(echo "$real_pages" | grep '^man3/'); do
    base=$(basename "$p" .3)
    awk '/^\.SH EXAMPLES/ { ex = 1; next }
         /^\.SH/ { ex = 0 }
         ex && /^\.EX/ { blk = 1; buf = ""; next }
         ex && /^\.EE/ { blk = 0; if (buf ~ /#include/) printf "%s", buf; next }
         blk { buf = buf $0 "\n" }' "man/$p" |
        sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\&//g' -e 's/\\e/\\/g' > "$out/$base.c"
    if [ ! -s "$out/$base.c" ]; then err "man/$p: no C program in EXAMPLES"; continue; fi
    $CC -std=gnu11 -Wall -Wextra -Werror -Iinclude -o "$out/$base" "$out/$base.c" \
        -L"$libdir" -lpidkit -Wl,-rpath,"$(cd "$libdir" && pwd)" ||
        err "man/$p: the EXAMPLES program does not compile ($out/$base.c)"
done
# The quick, self-contained ones also run.
for run in "pidkit_version" "pidkit_ids" "pidkit_pidfile $out/once.pid"; do
    set -- $run
    prog=$out/$1; shift
    [ -x "$prog" ] || continue
    msg=$("$prog" "$@" 2>&1) || err "man/man3/$(basename "$prog").3: the EXAMPLES program failed: $prog $*: $msg"
done
[ ! -e "$out/once.pid" ] || err "man/man3/pidkit_pidfile.3: the example left its pidfile behind"

# 5. pidkit(1) against the tool's --help: each command has an entry (a .TP
# tag) in COMMANDS, each option of `pidkit COMMAND --help` (its usage lines
# and the lines that list options) one in OPTIONS.
tags_of() { # the .TP tags of section $1 of pidkit(1), roff removed
    awk -v sec="$1" '/^\.SH/ { on = ($0 ~ "^\\.SH \"?" sec) } on && tp { print; tp = 0 } on && /^\.TP/ { tp = 1 }' man/man1/pidkit.1 |
        sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/^\.[A-Z]* *//' -e 's/"//g'
}
if [ -n "$cli" ]; then
    cmd_tags=$(tags_of COMMANDS)
    opt_tags=$(tags_of OPTIONS)
    commands=$("$cli" --help | awk '/^commands:/ { c = 1; next } c && /^  [a-z]/ { print $1 }')
    [ -n "$commands" ] || err "pidkit --help lists no commands"
    for c in $commands; do
        echo "$cmd_tags" | grep -q "^$c\b" || err "pidkit(1) COMMANDS has no entry for '$c' (from pidkit --help)"
        opts=$("$cli" "$c" --help | grep -E '^usage:|^ +(\[|--)' | grep -o -- '--[a-z][a-z-]*' | grep -vx -- '--help' | sort -u)
        for o in $opts; do
            echo "$opt_tags" | grep -q -- "^$o\b" || err "pidkit(1) OPTIONS has no entry for '$c $o' (from pidkit $c --help)"
        done
    done
fi

if [ "$fail" -ne 0 ]; then
    echo "check-man: FAILED" >&2
    exit 1
fi
echo "check-man: $(echo "$real_pages" | wc -w) pages and $(( $(echo "$pages" | wc -w) - $(echo "$real_pages" | wc -w) )) .so links lint clean ($linters), $(echo "$syms" | wc -w) symbols documented, examples compile"
