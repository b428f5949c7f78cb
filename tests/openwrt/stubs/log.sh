# log.sh: the call log shared by the test stubs (sourced, POSIX sh).
#
# stub_log NAME ARGS... appends one line to $SIPNAT_TEST_LOG: the words
# separated by one blank, each word that is empty or holds anything but
# [A-Za-z0-9_./:@%+=,-] in single quotes (a quote inside as '\''), so a
# line shows the exact arguments and reads like the shell call.

stub_quote() {
	case "$1" in
		'' | *[!A-Za-z0-9_./:@%+=,-]*)
			printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
			;;
		*) printf '%s' "$1" ;;
	esac
}

stub_log() {
	stub_line=""
	for stub_arg in "$@"; do
		stub_line="${stub_line:+$stub_line }$(stub_quote "$stub_arg")"
	done
	printf '%s\n' "$stub_line" >>"${SIPNAT_TEST_LOG:?SIPNAT_TEST_LOG is not set}"
}
