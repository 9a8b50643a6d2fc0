// Package cdecode exposes the init stage's C decoder of the Plan to Go
// tests, so that the encoding the box's pid 1 parses can be fuzzed against
// the Go side (package sandbox). Only tests import it.
package cdecode

/*
#cgo CFLAGS: -Wall -Wno-unused-function -Wno-unused-parameter
#include "../init.c"

// decode_ops returns what the C decoder makes of a plan: the number of ops,
// or -1; for each op its code and the length of its first string.
static long decode_ops(unsigned char *b, size_t n, unsigned int *codes, unsigned int *len0, long max)
{
	struct op *ops = NULL;
	long r = decode(b, n, &ops);
	for (long i = 0; i < r && i < max; i++) {
		codes[i] = ops[i].code;
		len0[i] = ops[i].nstr ? ops[i].len[0] : 0;
		if (ops[i].code == OP_HOOK) {
			// What do_hook and hook_child make of it: its argv, its
			// env, its stdin (with a pid of the longest).
			char **argv = split(ops[i].str[0], ops[i].len[0]);
			char **envp = split(ops[i].str[1], ops[i].len[1]);
			for (char **v = argv; v && *v; v++)
				(void)strlen(*v);
			for (char **v = envp; v && *v; v++)
				(void)strlen(*v);
			free(argv);
			free(envp);
			size_t n;
			snprintf(host_pid, sizeof host_pid, "%s", "4294967295");
			char *in = hook_state(&ops[i], &n);
			if (in && (n == 0 || in[n - 1] != '}'))
				abort();
			free(in);
		}
	}
	if (r >= 0)
		free(ops);
	return r;
}
*/
import "C"

// Op is what the C decoder read for one op.
type Op struct {
	Code uint32
	Len0 uint32 // the length of its first string, 0 without one
}

// Decode runs the C decoder on b; ok is false when it rejects the plan.
func Decode(b []byte) (ops []Op, ok bool) {
	// A plan holds at most one op per 40 bytes (the op header's size).
	most := len(b)/40 + 1
	codes := make([]C.uint, most)
	lens := make([]C.uint, most)
	buf := C.CBytes(b)
	defer C.free(buf)
	n := C.decode_ops((*C.uchar)(buf), C.size_t(len(b)), &codes[0], &lens[0], C.long(most))
	if n < 0 {
		return nil, false
	}
	for i := 0; i < int(n) && i < most; i++ {
		ops = append(ops, Op{Code: uint32(codes[i]), Len0: uint32(lens[i])})
	}
	return ops, true
}
