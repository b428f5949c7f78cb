# uci.awk: the UCI file model behind the test stubs (stubs/bin/uci and the
# config_load of stubs/lib/functions.sh). Written for sipnat's tests; it is
# not OpenWrt's libuci, only the part of its behaviour the scripts rely on.
#
# Input: a UCI file (`config TYPE ['NAME']`, `option NAME VALUE`,
# `list NAME VALUE`, `#` comments; values unquoted, '...' or "..." with
# backslash escapes outside single quotes, adjacent parts concatenated), and
# with mode=apply/export/show/get a second file: the pending changes, one per
# line, TAB separated: `set SEC OPT VALUE` (OPT empty: create or retype
# section SEC with type VALUE), `add_list SEC OPT VALUE`, `delete SEC OPT`
# (OPT empty: the section), `add TYPE NAME` (a new anonymous section that the
# other changes can call NAME). SEC may be a name or @TYPE[N] (N < 0 counts
# from the end). Anonymous sections read from the file are named
# cfgNN0000 (NN = their position, hex), like uci's generated cfgXXXXXX names.
#
# Modes (-v mode=...):
#   check   parse and apply, print nothing (exit 1 with a message on error)
#   apply   print the resulting file the way `uci commit` writes it
#   export  print it as `uci export` does: `package PKG` (-v pkg=...), then
#           the file as apply writes it, anonymous sections named too when
#           -v names=1 (`uci -n export`, what config_load evaluates)
#   show    print `pkg.sec=type` / `pkg.sec.opt='v'` lines like `uci show`
#           (-v pkg=PACKAGE, optional -v sel=SEC or SEC.OPT; anonymous
#           sections as @type[N])
#   get     print the value of -v sel=SEC.OPT (a list: items separated by a
#           blank) or the type of -v sel=SEC; exit 1 when there is none

function fail(msg) {
	printf "uci: %s\n", msg > "/dev/stderr"
	failed = 1
	exit 1
}

function valid_name(s) {
	return s ~ /^[A-Za-z0-9_]+$/
}

# Splits one line into toks[1..n] following uci's quoting; returns n.
function tokenize(line,    n, i, L, c, cur, intok, j, closed) {
	n = 0
	cur = ""
	intok = 0
	i = 1
	L = length(line)
	while (i <= L) {
		c = substr(line, i, 1)
		if (c == " " || c == "\t" || c == "\r") {
			if (intok) {
				toks[++n] = cur
				cur = ""
				intok = 0
			}
			i++
			continue
		}
		if (c == "#" && !intok)
			break
		if (c == "'") {
			j = index(substr(line, i + 1), "'")
			if (j == 0)
				fail(FILENAME ":" FNR ": unterminated '")
			cur = cur substr(line, i + 1, j - 1)
			i += j + 1
			intok = 1
			continue
		}
		if (c == "\"") {
			i++
			closed = 0
			while (i <= L) {
				c = substr(line, i, 1)
				if (c == "\\" && i < L) {
					cur = cur substr(line, i + 1, 1)
					i += 2
					continue
				}
				if (c == "\"") {
					closed = 1
					i++
					break
				}
				cur = cur c
				i++
			}
			if (!closed)
				fail(FILENAME ":" FNR ": unterminated \"")
			intok = 1
			continue
		}
		if (c == "\\" && i < L) {
			cur = cur substr(line, i + 1, 1)
			i += 2
			intok = 1
			continue
		}
		cur = cur c
		i++
		intok = 1
	}
	if (intok)
		toks[++n] = cur
	return n
}

function new_section(type, name, anon) {
	ns++
	stype[ns] = type
	sname[ns] = name
	sanon[ns] = anon
	sdel[ns] = 0
	oc[ns] = 0
	return ns
}

# Index of option `name` in section s, 0 when absent.
function find_option(s, name,    k) {
	for (k = 1; k <= oc[s]; k++)
		if (!odel[s, k] && oname[s, k] == name)
			return k
	return 0
}

function set_option(s, name, value,    k) {
	k = find_option(s, name)
	if (k == 0) {
		k = ++oc[s]
		oname[s, k] = name
		odel[s, k] = 0
	}
	okind[s, k] = "option"
	oval[s, k] = value
	lc[s, k] = 0
}

function add_list(s, name, value,    k) {
	k = find_option(s, name)
	if (k == 0) {
		k = ++oc[s]
		oname[s, k] = name
		odel[s, k] = 0
		okind[s, k] = "list"
		lc[s, k] = 0
	} else if (okind[s, k] == "option") {
		# uci turns an option into a list whose first item is its value
		okind[s, k] = "list"
		lc[s, k] = 1
		lval[s, k, 1] = oval[s, k]
	}
	lval[s, k, ++lc[s, k]] = value
}

# Index of section `ref` (a name or @type[N]), 0 when there is none.
function find_section(ref,    s, t, nth, cnt, m, total) {
	if (ref ~ /^@[A-Za-z0-9_]+\[-?[0-9]+\]$/) {
		t = substr(ref, 2, index(ref, "[") - 2)
		nth = substr(ref, index(ref, "[") + 1)
		sub(/\]$/, "", nth)
		nth = nth + 0
		total = 0
		for (s = 1; s <= ns; s++)
			if (!sdel[s] && stype[s] == t)
				total++
		if (nth < 0)
			nth += total
		cnt = 0
		for (s = 1; s <= ns; s++)
			if (!sdel[s] && stype[s] == t) {
				if (cnt == nth)
					return s
				cnt++
			}
		return 0
	}
	for (s = 1; s <= ns; s++)
		if (!sdel[s] && sname[s] == ref)
			return s
	return 0
}

function parse_config_line(line,    n, name) {
	n = tokenize(line)
	if (n == 0)
		return
	if (toks[1] == "package")
		return
	if (toks[1] == "config") {
		if (n < 2 || n > 3)
			fail(FILENAME ":" FNR ": config needs a type and at most a name")
		if (n == 3) {
			if (!valid_name(toks[3]))
				fail(FILENAME ":" FNR ": invalid section name '" toks[3] "'")
			cur = new_section(toks[2], toks[3], 0)
		} else {
			cur = new_section(toks[2], sprintf("cfg%02x0000", ns + 1), 1)
		}
		return
	}
	if (toks[1] == "option" || toks[1] == "list") {
		if (!cur)
			fail(FILENAME ":" FNR ": " toks[1] " outside a section")
		if (n != 3)
			fail(FILENAME ":" FNR ": " toks[1] " needs a name and one value")
		if (!valid_name(toks[2]))
			fail(FILENAME ":" FNR ": invalid option name '" toks[2] "'")
		if (toks[1] == "option")
			set_option(cur, toks[2], toks[3])
		else
			add_list(cur, toks[2], toks[3])
		return
	}
	fail(FILENAME ":" FNR ": unknown keyword '" toks[1] "'")
}

function apply_change(line,    f, op, sec, opt, value, s, p) {
	# op, section and option are the first three TAB-separated fields; the
	# value is the rest of the line (it may contain TABs)
	op = line
	sub(/\t.*/, "", op)
	line = substr(line, length(op) + 2)
	sec = line
	sub(/\t.*/, "", sec)
	line = substr(line, length(sec) + 2)
	opt = line
	sub(/\t.*/, "", opt)
	value = substr(line, length(opt) + 2)

	if (op == "add") {
		# sec = type, opt = the generated name
		new_section(sec, opt, 1)
		return
	}
	s = find_section(sec)
	if (op == "set" && opt == "") {
		if (s)
			stype[s] = value
		else if (valid_name(sec))
			new_section(value, sec, 0)
		else
			fail("invalid section name '" sec "'")
		return
	}
	if (!s)
		fail("no section '" sec "'")
	if (op == "set") {
		if (!valid_name(opt))
			fail("invalid option name '" opt "'")
		set_option(s, opt, value)
	} else if (op == "add_list") {
		if (!valid_name(opt))
			fail("invalid option name '" opt "'")
		add_list(s, opt, value)
	} else if (op == "delete") {
		if (opt == "") {
			sdel[s] = 1
		} else {
			p = find_option(s, opt)
			if (!p)
				fail("no option '" sec "." opt "'")
			odel[s, p] = 1
		}
	} else {
		fail("unknown change '" op "'")
	}
}

function quote(v) {
	gsub(/'/, "'\\''", v)
	return "'" v "'"
}

# The name `uci show` uses: the real one, or @type[N] for an anonymous one.
function show_name(s,    t, n) {
	if (!sanon[s])
		return sname[s]
	n = 0
	for (t = 1; t < s; t++)
		if (!sdel[t] && stype[t] == stype[s])
			n++
	return "@" stype[s] "[" n "]"
}

function value_of(s, k,    m, v) {
	if (okind[s, k] == "option")
		return oval[s, k]
	v = ""
	for (m = 1; m <= lc[s, k]; m++)
		v = v (m > 1 ? " " : "") lval[s, k, m]
	return v
}

function emit(    s, k, m, line, want_sec, want_opt, dot, found) {
	if (mode == "apply" || mode == "export") {
		if (mode == "export")
			printf "package %s\n", pkg
		for (s = 1; s <= ns; s++) {
			if (sdel[s])
				continue
			printf "\nconfig %s", stype[s]
			if (!sanon[s] || (mode == "export" && names))
				printf " %s", quote(sname[s])
			printf "\n"
			for (k = 1; k <= oc[s]; k++) {
				if (odel[s, k])
					continue
				if (okind[s, k] == "option")
					printf "\toption %s %s\n", oname[s, k], quote(oval[s, k])
				else
					for (m = 1; m <= lc[s, k]; m++)
						printf "\tlist %s %s\n", oname[s, k], quote(lval[s, k, m])
			}
		}
		if (ns)
			printf "\n"
		return
	}
	want_sec = sel
	want_opt = ""
	dot = index(sel, ".")
	if (dot) {
		want_sec = substr(sel, 1, dot - 1)
		want_opt = substr(sel, dot + 1)
	}
	if (mode == "get") {
		s = find_section(want_sec)
		if (!s)
			exit 1
		if (want_opt == "") {
			print stype[s]
			return
		}
		k = find_option(s, want_opt)
		if (!k)
			exit 1
		print value_of(s, k)
		return
	}
	if (mode == "show") {
		found = 0
		for (s = 1; s <= ns; s++) {
			if (sdel[s])
				continue
			if (want_sec != "" && s != find_section(want_sec))
				continue
			found = 1
			if (want_opt == "")
				printf "%s.%s=%s\n", pkg, show_name(s), stype[s]
			for (k = 1; k <= oc[s]; k++) {
				if (odel[s, k])
					continue
				if (want_opt != "" && oname[s, k] != want_opt)
					continue
				line = pkg "." show_name(s) "." oname[s, k] "="
				if (okind[s, k] == "option")
					line = line quote(oval[s, k])
				else
					for (m = 1; m <= lc[s, k]; m++)
						line = line (m > 1 ? " " : "") quote(lval[s, k, m])
				print line
			}
		}
		if (want_sec != "" && !found)
			exit 1
	}
}

BEGIN {
	ns = 0
	cur = 0
	failed = 0
}

# First file: the configuration; second file (if any): the pending changes.
FILENAME == ARGV[1] {
	parse_config_line($0)
	next
}

{
	if ($0 != "")
		apply_change($0)
}

END {
	if (failed)
		exit 1
	if (mode != "check")
		emit()
}
