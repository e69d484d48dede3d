// Package faults is nuanjia's fault-injection harness. Its tests are
// behind the build tag "faults" (make faults): they start a private
// PostgreSQL and Redis, run the real nuanjia binary against them and a
// fake WeChat API, stream pushes the way WeChat sends them, and stop,
// stall, lock or kill one part at a time, then count what every member
// got back. See faults_test.go.
package faults
