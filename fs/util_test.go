package fs

import "os/exec"

var execLookPath = exec.LookPath
