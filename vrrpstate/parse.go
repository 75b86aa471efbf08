package vrrpstate

import (
	"fmt"
	"strconv"
	"strings"
)

// Scope says whether a FIFO line is about a vrrp_instance or a
// vrrp_sync_group.
type Scope string

// Scopes as keepalived writes them; they are also the notify script's $1.
const (
	ScopeInstance Scope = "INSTANCE"
	ScopeGroup    Scope = "GROUP"
)

// Word is the state or event word of a FIFO line, exactly as keepalived
// writes it; it is also the notify script's $3.
type Word string

// Every word keepalived 2.2 writes to a vrrp notify FIFO
// (keepalived/vrrp/vrrp_notify.c).
const (
	WordMaster  Word = "MASTER"
	WordBackup  Word = "BACKUP"
	WordFault   Word = "FAULT"
	WordStop    Word = "STOP"
	WordDeleted Word = "DELETED"
	// WordMasterRxLowerPri: a master received an advert with a lower
	// priority than its own (an event, not a state change).
	WordMasterRxLowerPri Word = "MASTER_RX_LOWER_PRI"
	// WordMasterPriority and WordBackupPriority: the effective priority
	// changed while master or backup (only with vrrp_notify_priority_changes).
	WordMasterPriority Word = "MASTER_PRIORITY"
	WordBackupPriority Word = "BACKUP_PRIORITY"
)

// IsState reports whether w is a state change (as opposed to an event that
// leaves the state as it is). Only state changes run the notify script,
// as keepalived's own notify does.
func (w Word) IsState() bool {
	switch w {
	case WordMaster, WordBackup, WordFault, WordStop, WordDeleted:
		return true
	}
	return false
}

func knownWord(s string) bool {
	switch Word(s) {
	case WordMaster, WordBackup, WordFault, WordStop, WordDeleted,
		WordMasterRxLowerPri, WordMasterPriority, WordBackupPriority:
		return true
	}
	return false
}

// Line is one parsed FIFO line, e.g. `INSTANCE "VI_1" MASTER 100`.
type Line struct {
	Scope    Scope
	Name     string // instance or group name, without quotes
	Word     Word
	Priority int // effective priority; 0 for groups and when absent
}

// String renders the line the way keepalived writes it (without newline).
func (l Line) String() string {
	return fmt.Sprintf(`%s "%s" %s %d`, l.Scope, l.Name, l.Word, l.Priority)
}

// ParseLine parses one line of a vrrp notify FIFO. keepalived writes
// `TYPE "NAME" STATE PRIORITY`; the priority is accepted as optional since
// older keepalived versions did not write it. Lines from the checker
// (`VS ...`, `RS ...`, only on a global notify_fifo) are rejected.
func ParseLine(s string) (Line, error) {
	s = strings.TrimRight(s, "\r\n")
	scope, rest, ok := strings.Cut(s, " ")
	if !ok {
		return Line{}, fmt.Errorf("FIFO line %q: want TYPE \"NAME\" STATE PRIORITY", s)
	}
	var l Line
	switch Scope(scope) {
	case ScopeInstance, ScopeGroup:
		l.Scope = Scope(scope)
	default:
		return Line{}, fmt.Errorf("FIFO line %q: type %q is not INSTANCE or GROUP", s, scope)
	}
	if !strings.HasPrefix(rest, `"`) {
		return Line{}, fmt.Errorf("FIFO line %q: name is not quoted", s)
	}
	// keepalived does not escape the name; names cannot contain '"'
	// (the config parser would split them), so the last quote ends it.
	end := strings.LastIndexByte(rest, '"')
	if end == 0 {
		return Line{}, fmt.Errorf("FIFO line %q: name has no closing quote", s)
	}
	l.Name = rest[1:end]
	if l.Name == "" {
		return Line{}, fmt.Errorf("FIFO line %q: empty name", s)
	}
	fields := strings.Fields(rest[end+1:])
	if len(fields) < 1 || len(fields) > 2 {
		return Line{}, fmt.Errorf("FIFO line %q: want STATE and PRIORITY after the name", s)
	}
	if !knownWord(fields[0]) {
		return Line{}, fmt.Errorf("FIFO line %q: unknown state %q", s, fields[0])
	}
	l.Word = Word(fields[0])
	if len(fields) == 2 {
		p, err := strconv.Atoi(fields[1])
		if err != nil || p < 0 || p > 255 {
			return Line{}, fmt.Errorf("FIFO line %q: priority %q is not a number in 0..255", s, fields[1])
		}
		l.Priority = p
	}
	return l, nil
}
