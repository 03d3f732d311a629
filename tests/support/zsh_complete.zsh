# zsh -f zsh_complete.zsh FPATH_DIR OUT LINE
#
# Runs an interactive zsh in a pseudo-terminal (zpty) with FPATH_DIR in its fpath and compinit
# loaded, types LINE and a Tab, and appends each match that zsh's completion system adds to OUT,
# one a line (what a person would be offered), then the line "(completed)". Used by
# tests/cli/help_test.ts.
zmodload zsh/zpty || exit 3
local dir=$1 out=$2 line=$3 l
zpty z zsh -f -i
zpty -w z "PS1='zle-ready> ' RPS1=; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
# Record the matches compadd adds, except when it only computes them (-O, -A, -D).
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a hits; builtin compadd -A hits \"\$@\"; (( \$#hits )) && print -rl -- \$hits >> ${(q)out}; builtin compadd \"\$@\"; }"
# And a last line once the completion has run, so that no match is told from no completion.
zpty -w z "comppostfuncs=( completed ); completed() { print -r -- '(completed)' >> ${(q)out}; }"
zpty -w z "bindkey '^I' complete-word"
# Wait for the line editor's prompt after this: typed before it, a Tab is not a completion.
zpty -w z "print ready-\$((40 + 1))"
zpty -r z l '*ready-41*zle-ready> '
zpty -w -n z "$line"$'\t'
# The editor reads its input in order: once this prints, the completion has run. Ctrl-U clears
# the line.
zpty -w z $'\C-u'"print done-\$((40 + 2))"
while zpty -r z l; do [[ $l == *done-42* ]] && break; done
zpty -d z
