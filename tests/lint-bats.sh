#!/bin/bash
# lint-bats.sh [FILE.bats...]: finds assertions that can never fail a bats
# test (default: every tests/*.bats).
#
# A bats test body runs under `set -e`, and set -e ignores the failure of
# every command of an `A && B` list but the last, and of every `! cmd`.  So
#     [ ! -e "$MNT/x" ] && [ ! -e "$MNT/y" ]
#     ! mountpoint -q "$MNT"
# pass whatever happens when another command follows them.  This prints, for
# each such line of a test body,
#     not ok lint FILE:LINE: non-final '&&' list never fails a bats test
#     not ok lint FILE:LINE: non-final '!' command never fails a bats test
# and exits 1; when there is none, "ok lint: bats assertions" and exits 0.
#
# Not reported, because they do fail the test:
#   - the test's last command, and the last command of an if/case branch or
#     { } group that is itself last (its status is the test's status);
#   - a list ending in a command that always fails or decides explicitly:
#     `... || false`, `|| return 1`, `|| exit 1`, `|| { ...; false; }`,
#     `|| skip ...`, `|| true` (nothing asserted, on purpose), or in flow
#     control: `... && break|continue|return|exit|skip|false`;
#   - `&&` inside [[ ]], (( )), quotes, $( ), <( ), a ( ) subshell's last
#     command, here-documents and comments; if/elif/while/until conditions.
# Reported although bats runs them: any `&&` list or `!` command that is not
# last in a loop body (a later iteration's status hides an earlier one), and
# `X || { A && B; }` (bash does not exit when the group fails because A did).
# Also reported, anywhere in the file: a bare `wait`.  With
# BATS_TEST_TIMEOUT set (tests/run.sh sets it) bats' timeout watcher is a
# child of the test too, so `wait` waits for it: the test hangs until it is
# killed.  Wait for the job's own pid.
# Only @test bodies are read: helper functions are not (their `cond && action`
# idioms are not assertions); review those by hand.
set -euo pipefail

if (($# == 0)); then
	cd "$(dirname "$0")/.."
	set -- tests/*.bats
fi

# shellcheck disable=SC2016 # awk program
AWK='
# ------------------------------------------------------------ reading
FNR == 1 && NR > 1 { do_file() }
{ L[FNR] = $0; N = FNR; FILE = FILENAME }
END { if (N) do_file(); if (!FLAGGED && !ERRORS) print "ok lint: bats assertions"; exit (FLAGGED || ERRORS) ? 1 : 0 }

function do_file(   i) {
	i = 1
	while (i <= N) {
		if (L[i] ~ /^[ \t]*@test[ \t].*\{[ \t]*$/)
			i = do_test(i + 1)
		else
			i++
	}
	N = 0
}

# Masks the body of the test starting at line s, tokenizes it, checks it;
# returns the line after its closing brace.
function do_test(s,   i, m, ln, k) {
	SD = 0; HDN = 0; HDI = 0; NT = 0
	for (i = s; i <= N; i++) {
		if (HDI < HDN) {	# a here-document body
			ln = L[i]
			if (HD_STRIP[HDI + 1]) sub(/^\t+/, "", ln)
			if (ln == HD_DELIM[HDI + 1]) HDI++
			if (HDI == HDN) HDN = HDI = 0
			continue
		}
		if (SD == 0 && L[i] ~ /^}[ \t]*$/) {
			for (k in FL) delete FL[k]
			check_body()
			for (k = s; k <= i; k++)
				if (k in FL) {
					print "not ok lint " FILE ":" k ": " FL[k]
					if (FL[k] ~ /^cannot/) ERRORS++; else FLAGGED++
				}
			return i + 1
		}
		m = mask_line(L[i])
		tokenize(m, i)
	}
	print "not ok lint " FILE ":" (s - 1) ": cannot find the end of this test body"
	ERRORS++
	return N + 1
}

# ------------------------------------------------------------ masking
# Everything inside quotes, $( ), ` `, ${ }, <( ), =( ), [[ ]], (( )) and
# comments becomes "_"; what stays is the shell syntax of the body itself.
# Contexts: S single quote, E $'"'"'...'"'"', D double quote, P command or process
# substitution / array, B backquote, V ${ }, A arithmetic, a parenthesis
# inside it, K [[ ]].
function push(c) { ST[++SD] = c }
function pop() { if (SD > 0) SD-- }
function wordstart(line, j,   p) {
	if (j == 1) return 1
	p = substr(line, j - 1, 1)
	return index(" \t;&|()", p) > 0
}
function rep(n,   s) { s = ""; while (n-- > 0) s = s "_"; return s }

# <<[-]WORD at j: records a pending here-document; returns the index after it.
function heredoc(line, j,   n, d, q, e) {
	n = length(line)
	j += 2
	HD_STRIP[HDN + 1] = 0
	if (substr(line, j, 1) == "-") { HD_STRIP[HDN + 1] = 1; j++ }
	while (substr(line, j, 1) ~ /[ \t]/) j++
	d = ""
	q = substr(line, j, 1)
	if (q == "\047" || q == "\"") {
		e = index(substr(line, j + 1), q)
		if (e == 0) return n + 1
		d = substr(line, j + 1, e - 1)
		j += e + 1
	} else {
		if (q == "\\") j++
		while (j <= n && substr(line, j, 1) ~ /[A-Za-z0-9_.-]/) { d = d substr(line, j, 1); j++ }
	}
	if (d != "") { HDN++; HD_DELIM[HDN] = d }
	return j
}

function mask_line(line,   out, j, n, c, c2, t, j0) {
	out = ""; n = length(line); j = 1
	while (j <= n) {
		c = substr(line, j, 1); c2 = substr(line, j, 2); t = SD ? ST[SD] : ""
		if (t == "S") { if (c == "\047") pop(); out = out "_"; j++; continue }
		if (t == "E") {
			if (c == "\\") { out = out "__"; j += 2; continue }
			if (c == "\047") pop()
			out = out "_"; j++; continue
		}
		if (t == "D") {
			if (c == "\\") { out = out "__"; j += 2; continue }
			if (c == "\"") { pop(); out = out "_"; j++; continue }
			if (c2 == "$(") {
				if (substr(line, j, 3) == "$((") { push("A"); out = out "___"; j += 3 }
				else { push("P"); out = out "__"; j += 2 }
				continue
			}
			if (c2 == "${") { push("V"); out = out "__"; j += 2; continue }
			if (c == "`") push("B")
			out = out "_"; j++; continue
		}
		# code: top level, or inside P B V A a K
		if (c == "\\") {
			if (j == n) { out = out (SD ? "_" : "\\"); j++; continue }
			out = out "__"; j += 2; continue
		}
		if (t == "A" && c2 == "))") { pop(); out = out "__"; j += 2; continue }
		if (t == "K" && c2 == "]]") { pop(); out = out "__"; j += 2; continue }
		if (c2 == "$\047") { push("E"); out = out "__"; j += 2; continue }
		if (c == "\047") { push("S"); out = out "_"; j++; continue }
		if (c == "\"") { push("D"); out = out "_"; j++; continue }
		if (c == "`") { if (t == "B") pop(); else push("B"); out = out "_"; j++; continue }
		if (c2 == "$(") {
			if (substr(line, j, 3) == "$((") { push("A"); out = out "___"; j += 3 }
			else { push("P"); out = out "__"; j += 2 }
			continue
		}
		if (c2 == "${") { push("V"); out = out "__"; j += 2; continue }
		if (c2 == "<(" || c2 == ">(") { push("P"); out = out "__"; j += 2; continue }
		if (c == "(" && j > 1 && substr(line, j - 1, 1) == "=") { push("P"); out = out "_"; j++; continue }
		if (t == "A" || t == "a") {
			if (c == "(") push("a"); else if (c == ")" && t == "a") pop()
			out = out "_"; j++; continue
		}
		if (t == "V") { if (c == "}") pop(); out = out "_"; j++; continue }
		if (t == "K") { out = out "_"; j++; continue }
		if (c == "#" && wordstart(line, j)) { if (SD) out = out rep(n - j + 1); break }
		if (substr(line, j, 3) == "<<<") { out = out (SD ? "___" : "<<<"); j += 3; continue }
		if (c2 == "<<") { j0 = j; j = heredoc(line, j); out = out rep(j - j0); continue }
		if (t == "P" || t == "B") {
			if (c == "(") push("P"); else if (c == ")" && t == "P") pop()
			out = out "_"; j++; continue
		}
		# top level
		if (c2 == "((") { push("A"); out = out "__"; j += 2; continue }
		if (c2 == "[[" && wordstart(line, j)) { push("K"); out = out "__"; j += 2; continue }
		out = out c; j++
	}
	return out
}

# ------------------------------------------------------------ tokens
# Operators: NL ; ;; & && || | ( ) ; words otherwise (redirections included).
function tok(t, ln) { T[++NT] = t; TL[NT] = ln }
function tokenize(m, ln,   j, n, c, c2, w, cont) {
	n = length(m); j = 1; cont = 0
	while (j <= n) {
		c = substr(m, j, 1); c2 = substr(m, j, 2)
		if (c == " " || c == "\t") { j++; continue }
		if (c == "\\" && j == n) { cont = 1; j++; continue }
		if (c2 == "&&" || c2 == "||" || c2 == ";;") { tok(c2, ln); j += 2; continue }
		if (c2 == "|&") { tok("|", ln); j += 2; continue }
		if (c == ";" || c == "|" || c == "(" || c == ")") { tok(c, ln); j++; continue }
		if (c == "&" && substr(m, j + 1, 1) != ">") { tok("&", ln); j++; continue }
		w = ""
		while (j <= n) {
			c = substr(m, j, 1)
			if (c == "<" || c == ">") {
				w = w c; j++
				while (substr(m, j, 1) ~ /[<>&|]/ && substr(m, j, 2) != "&&" && substr(m, j, 2) != "||") { w = w substr(m, j, 1); j++ }
				continue
			}
			if (c == "&" && substr(m, j + 1, 1) == ">") { w = w c; j++; continue }
			if (index(" \t;|&()", c) || (c == "\\" && j == n)) break
			w = w c; j++
		}
		tok(w, ln)
	}
	if (!cont && SD == 0) tok("NL", ln)
}

# ------------------------------------------------------------ parsing
# A small recursive-descent parser of the shell grammar.  ret = 1 when the
# status of the construct being parsed becomes the test'"'"'s status (it is the
# last command, or a guard follows it).  A first pass (DRY > 0, nothing
# reported) learns the shape of a list before the real pass.
function tk(k) { return k <= NT ? T[k] : "<EOF>" }
function isop(t) { return t == "NL" || t == ";" || t == ";;" || t == "&" || t == "&&" || t == "||" || t == "|" || t == "(" || t == ")" || t == "<EOF>" }
function isstop(t, stops) { return index(stops, " " t " ") > 0 }
function skip_nl() { while (P <= NT && T[P] == "NL") P++ }
function flag(ln, what) {
	if (DRY) return
	if (!(ln in FL)) FL[ln] = "non-final \047" what "\047 " (what == "&&" ? "list" : "command") " never fails a bats test"
}
function perror(ln, what) { if (!DRY) FL[ln] = "cannot parse this test body (" what "); tests/lint-bats.sh needs fixing" }
function expect(w) { if (tk(P) == w) P++; else { perror(TL[P > NT ? NT : P], "expected " w ", got " tk(P)); P = NT + 1 } }

function check_body() {
	P = 1; DRY = 0; LV = 0
	parse_list(1, " ")
	if (P <= NT) perror(TL[P], "unexpected " T[P])
}

function parse_list(ret, stops,   save, q, last, sep) {
	LIST_WORD = ""; LIST_TERM = 0
	while (1) {
		while (P <= NT && (T[P] == "NL" || T[P] == ";")) P++
		if (P > NT || isstop(T[P], stops)) return
		save = P
		DRY++; parse_andor(0); DRY--
		if (P == save) { perror(TL[P], "unexpected " T[P]); P = NT + 1; return }
		q = P; sep = tk(q)
		if (sep == ";" || sep == "&" || sep == "NL") q++
		while (q <= NT && (T[q] == "NL" || T[q] == ";")) q++
		last = (q > NT || isstop(T[q], stops))
		P = save
		parse_andor((ret && last) || sep == "&")
		if (tk(P) == "&") P++
	}
}

# An always-failing command: false, return N, exit N (N not 0), or a { }
# group ending in one.
function failing(w, a, term) { return term || w == "false" || ((w == "return" || w == "exit") && a != "" && a != "0") }

function parse_andor(ret,   lv, save, n, i, has_and, any_neg, guarded, w, a, op, line0, inner) {
	lv = ++LV; save = P; line0 = TL[P]
	DRY++
	n = 0
	while (1) {
		n++
		parse_pipeline(1)
		NEG[lv, n] = PIPE_NEG; WORD[lv, n] = CMD_WORD; ARG[lv, n] = CMD_ARG
		TERM[lv, n] = CMD_TERM; KIND[lv, n] = CMD_KIND
		if (tk(P) == "&&" || tk(P) == "||") { OP[lv, n] = T[P]; P++; skip_nl(); continue }
		break
	}
	DRY--
	has_and = any_neg = guarded = 0
	for (i = 1; i <= n; i++) {
		if (NEG[lv, i]) any_neg = 1
		if (i < n && OP[lv, i] == "&&") has_and = 1
	}
	if (n > 1 && !NEG[lv, n]) {
		w = WORD[lv, n]; a = ARG[lv, n]; op = OP[lv, n - 1]
		if (op == "||" && (failing(w, a, TERM[lv, n]) || w == "true" || w == ":" || w == "skip" || w == "break" || w == "continue"))
			guarded = 1
		if (op == "&&" && (failing(w, a, TERM[lv, n]) || w == "break" || w == "continue" || w == "return" || w == "exit" || w == "skip"))
			guarded = 1
	}
	if (!ret && !guarded) {
		if (has_and) flag(line0, "&&")
		else if (any_neg) flag(line0, "!")
	}
	P = save
	for (i = 1; i <= n; i++) {
		inner = (i == n && (ret || guarded)) || (i < n && guarded) || (i == n && KIND[lv, i] == "subshell")
		parse_pipeline(inner)
		if (i < n) { P++; skip_nl() }
	}
	LIST_WORD = WORD[lv, n]
	LIST_TERM = (n == 1 && !NEG[lv, 1] && failing(WORD[lv, 1], ARG[lv, 1], TERM[lv, 1]))
	LV--
}

function parse_pipeline(ret,   neg) {
	neg = 0
	while (tk(P) == "!") { neg = !neg; P++ }
	while (1) {
		parse_command(ret)
		if (tk(P) == "|") { P++; skip_nl(); continue }
		break
	}
	PIPE_NEG = neg
}

function skip_words() { while (P <= NT && !isop(T[P])) P++ }

function parse_command(ret,   t, kind, term) {
	t = tk(P); kind = "simple"; term = 0
	if (t == "{") {
		P++; parse_list(ret, " } "); expect("}")
		kind = "group"; term = LIST_TERM
	} else if (t == "(") {
		P++; parse_list(ret, " ) "); expect(")")
		kind = "subshell"
	} else if (t == "if") {
		P++; DRY++; parse_list(0, " then "); DRY--; expect("then")
		parse_list(ret, " elif else fi ")
		while (tk(P) == "elif") {
			P++; DRY++; parse_list(0, " then "); DRY--; expect("then")
			parse_list(ret, " elif else fi ")
		}
		if (tk(P) == "else") { P++; parse_list(ret, " fi ") }
		expect("fi"); kind = "if"
	} else if (t == "while" || t == "until") {
		P++; DRY++; parse_list(0, " do "); DRY--; expect("do")
		parse_list(0, " done "); expect("done"); kind = "loop"
	} else if (t == "for" || t == "select") {
		P++
		while (P <= NT && T[P] != "do") P++
		expect("do"); parse_list(0, " done "); expect("done"); kind = "loop"
	} else if (t == "case") {
		P++
		while (P <= NT && T[P] != "in") P++
		expect("in")
		while (1) {
			skip_nl()
			if (P > NT || T[P] == "esac") break
			if (T[P] == "(") P++
			while (P <= NT && T[P] != ")") P++
			expect(")")
			parse_list(ret, " ;; esac ")
			if (tk(P) == ";;") P++
		}
		expect("esac"); kind = "case"
	} else if (t == "function") {
		P += 2
		if (tk(P) == "(" && tk(P + 1) == ")") P += 2
		skip_nl(); parse_command(1); kind = "function"
	} else if (!isop(t)) {
		CMD_WORD = t; CMD_ARG = isop(tk(P + 1)) ? "" : tk(P + 1)
		P++
		if (tk(P) == "(" && tk(P + 1) == ")") {	# NAME() BODY
			P += 2; skip_nl(); parse_command(1); kind = "function"
		} else {
			skip_words()
			CMD_KIND = "simple"; CMD_TERM = 0
			return
		}
	} else
		return
	skip_words()	# redirections after a compound command
	CMD_KIND = kind; CMD_TERM = term; CMD_WORD = kind; CMD_ARG = ""
}
'

rc=0
awk "$AWK" "$@" || rc=$?
if grep -nE '^[[:space:]]*wait[[:space:]]*(#.*)?$' "$@" /dev/null |
	sed 's/^\([^:]*:[0-9]*\):.*/not ok lint \1: bare `wait` also waits for bats'"'"' timeout watcher/' | grep .; then
	rc=1
fi
exit "$rc"
