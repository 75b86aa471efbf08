package vrrpstate

import "testing"

func TestParseLine(t *testing.T) {
	tests := []struct {
		in   string
		want Line
	}{
		{`INSTANCE "VI_1" MASTER 100` + "\n", Line{ScopeInstance, "VI_1", WordMaster, 100}},
		{`INSTANCE "VI_1" BACKUP 100`, Line{ScopeInstance, "VI_1", WordBackup, 100}},
		{`INSTANCE "VI_2" FAULT 150`, Line{ScopeInstance, "VI_2", WordFault, 150}},
		{`INSTANCE "VI_1" STOP 150`, Line{ScopeInstance, "VI_1", WordStop, 150}},
		{`INSTANCE "VI_1" DELETED 150`, Line{ScopeInstance, "VI_1", WordDeleted, 150}},
		{`INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150`, Line{ScopeInstance, "VI_1", WordMasterRxLowerPri, 150}},
		{`INSTANCE "VI_4" MASTER_PRIORITY 40`, Line{ScopeInstance, "VI_4", WordMasterPriority, 40}},
		{`INSTANCE "VI_4" BACKUP_PRIORITY 90`, Line{ScopeInstance, "VI_4", WordBackupPriority, 90}},
		{`GROUP "G1" MASTER 0`, Line{ScopeGroup, "G1", WordMaster, 0}},
		{`GROUP "G1" BACKUP 0`, Line{ScopeGroup, "G1", WordBackup, 0}},
		{`GROUP "G1" FAULT 0`, Line{ScopeGroup, "G1", WordFault, 0}},
		{`GROUP "G1" STOP 0`, Line{ScopeGroup, "G1", WordStop, 0}},
		{`INSTANCE "name with space" BACKUP 7` + "\r\n", Line{ScopeInstance, "name with space", WordBackup, 7}},
		{`INSTANCE "old" MASTER`, Line{ScopeInstance, "old", WordMaster, 0}}, // no priority (old keepalived)
		{`INSTANCE "ipf_VIP_1" MASTER 255`, Line{ScopeInstance, "ipf_VIP_1", WordMaster, 255}},
	}
	for _, tt := range tests {
		got, err := ParseLine(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLine(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseLineRejects(t *testing.T) {
	for _, in := range []string{
		``,
		`INSTANCE`,
		`VS [192.0.2.1]:tcp:80 UP`,
		`RS [192.0.2.1]:tcp:80 DOWN`,
		`INSTANCE VI_1 MASTER 100`,
		`INSTANCE "VI_1 MASTER 100`,
		`INSTANCE "" MASTER 100`,
		`INSTANCE "VI_1" LEADER 100`,
		`INSTANCE "VI_1" MASTER abc`,
		`INSTANCE "VI_1" MASTER 300`,
		`INSTANCE "VI_1" MASTER 100 extra`,
		`INSTANCE "VI_1"`,
	} {
		if l, err := ParseLine(in); err == nil {
			t.Errorf("ParseLine(%q) = %+v, want an error", in, l)
		}
	}
}

func TestWordIsState(t *testing.T) {
	for w, want := range map[Word]bool{
		WordMaster: true, WordBackup: true, WordFault: true, WordStop: true, WordDeleted: true,
		WordMasterRxLowerPri: false, WordMasterPriority: false, WordBackupPriority: false,
	} {
		if w.IsState() != want {
			t.Errorf("%s.IsState() = %v", w, !want)
		}
	}
}
