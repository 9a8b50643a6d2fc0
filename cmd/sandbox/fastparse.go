package main

import (
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// fastExec parses `sandbox exec [FLAGS] -- CMD [ARG...]` without kong, for
// the launch path: kong builds its model of the command by reflection over
// every field's tags and interpolates every help text at each start, about
// 0.6 ms of a launch's CPU (perf, 2026-12-02), more than the whole C init
// stage's user time.
//
// It reads the same struct tags (name, short, default, enum, type) and
// takes only what it can read exactly as kong would: long flags as --name
// VALUE or --name=VALUE, the short ones as -w VALUE and -t, the command
// after "--". Anything else (an unknown or repeated flag, --help, a value
// that starts with "-", a number or enum kong would refuse, a missing
// --rootfs directory, no "--") returns ok == false, and kong parses the
// line as before, with its own messages. TestFastExecMatchesKong holds the
// two to the same result.
func fastExec(args []string) (c *execCmd, ok bool) {
	c = &execCmd{}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	type flag struct {
		field int
		enum  []string
		dir   bool // type:"existingdir"
	}
	long := make(map[string]flag, t.NumField())
	short := map[string]flag{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, arg := f.Tag.Lookup("arg"); !f.IsExported() || arg {
			continue
		}
		// Anything this parser does not read the way kong does sends
		// the line to kong.
		for _, tag := range []string{"env", "xor", "and", "required", "hidden", "negatable", "mapper", "aliases"} {
			if _, has := f.Tag.Lookup(tag); has {
				return nil, false
			}
		}
		if typ := f.Tag.Get("type"); typ != "" && typ != "existingdir" {
			return nil, false
		}
		if sep, has := f.Tag.Lookup("sep"); f.Type.Kind() == reflect.Slice && (!has || sep != "none") {
			return nil, false
		}
		fl := flag{field: i, dir: f.Tag.Get("type") == "existingdir"}
		if e := f.Tag.Get("enum"); e != "" {
			fl.enum = strings.Split(e, ",")
		}
		name := f.Tag.Get("name")
		if name == "" {
			name = kebab(f.Name)
		}
		if name == "" {
			return nil, false
		}
		long[name] = fl
		if s := f.Tag.Get("short"); s != "" {
			short[s] = fl
		}
		if d, has := f.Tag.Lookup("default"); has && !set(v.Field(i), d, fl.enum) {
			return nil, false
		}
	}
	seen := make(map[int]bool, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 >= len(args) {
				return nil, false
			}
			c.Command = append([]string{"--"}, args[i+1:]...)
			return c, true
		}
		var fl flag
		var known, hasVal bool
		var val string
		switch {
		case strings.HasPrefix(a, "--"):
			var name string
			name, val, hasVal = strings.Cut(a[2:], "=")
			fl, known = long[name]
		case len(a) == 2 && a[0] == '-':
			fl, known = short[a[1:]]
		}
		if !known || seen[fl.field] && v.Field(fl.field).Kind() != reflect.Slice {
			return nil, false
		}
		seen[fl.field] = true
		field := v.Field(fl.field)
		if field.Kind() == reflect.Bool {
			if hasVal {
				return nil, false
			}
			field.SetBool(true)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return nil, false
			}
			i++
			val = args[i]
		}
		if fl.dir {
			val = kong.ExpandPath(val)
			if st, err := os.Stat(val); err != nil || !st.IsDir() {
				return nil, false
			}
		}
		if !set(field, val, fl.enum) {
			return nil, false
		}
	}
	return nil, false
}

// set stores a flag's value as kong's mapper for its type would, or
// reports false where kong would say more than a plain conversion does.
func set(f reflect.Value, s string, enum []string) bool {
	if enum != nil {
		found := false
		for _, e := range enum {
			found = found || e == s
		}
		if !found {
			return false
		}
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return false
		}
		f.Set(reflect.Append(f, reflect.ValueOf(s)))
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 0, f.Type().Bits())
		if err != nil {
			return false
		}
		f.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false
		}
		f.SetFloat(n)
	case reflect.Bool:
		switch s {
		case "true":
			f.SetBool(true)
		case "false":
			f.SetBool(false)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// kebab is kong's flag name for a field without a name tag, for names with
// one capital letter, the first (Rootfs -> rootfs); "" for any other, whose
// name tag is then required here.
func kebab(s string) string {
	for i, r := range s {
		if r >= 'A' && r <= 'Z' && i > 0 {
			return ""
		}
	}
	return strings.ToLower(s)
}
