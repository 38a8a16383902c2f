package protocol_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodes(t *testing.T) {
	sentinels := map[protocol.Code]error{
		protocol.CodeProtocolViolation:  protocol.ErrProtocolViolation,
		protocol.CodeUnsupportedVersion: protocol.ErrUnsupportedVersion,
		protocol.CodeFrameTooLarge:      protocol.ErrFrameTooLarge,
		protocol.CodeTooManyEvents:      protocol.ErrTooManyEvents,
		protocol.CodeEventTooLarge:      protocol.ErrEventTooLarge,
		protocol.CodeInvalidEvent:       protocol.ErrInvalidEvent,
		protocol.CodeUnknownType:        protocol.ErrUnknownType,
		protocol.CodeClockDrift:         protocol.ErrClockDrift,
		protocol.CodeUnauthorized:       protocol.ErrUnauthorized,
		protocol.CodeForbiddenStream:    protocol.ErrForbiddenStream,
		protocol.CodeOverloaded:         protocol.ErrOverloaded,
		protocol.CodeSlowConsumer:       protocol.ErrSlowConsumer,
		protocol.CodeGoingAway:          protocol.ErrGoingAway,
		protocol.CodeInternal:           protocol.ErrInternal,
	}
	resume := map[protocol.Code]bool{
		protocol.CodeOverloaded: true, protocol.CodeSlowConsumer: true,
		protocol.CodeGoingAway: true, protocol.CodeInternal: true,
	}
	require.Len(t, protocol.Codes(), len(sentinels))
	closeCodes := map[int]protocol.Code{}
	for _, c := range protocol.Codes() {
		t.Run(string(c), func(t *testing.T) {
			assert.True(t, c.Known())
			cc := c.CloseCode()
			assert.GreaterOrEqual(t, cc, 4000)
			assert.LessOrEqual(t, cc, 4999)
			assert.NotContains(t, closeCodes, cc, "close codes must be unique")
			closeCodes[cc] = c

			back, ok := protocol.FromCloseCode(cc)
			assert.True(t, ok)
			assert.Equal(t, c, back)
			if std := c.StandardCloseCode(); std != 0 {
				back, ok := protocol.FromCloseCode(std)
				assert.True(t, ok)
				assert.Equal(t, c, back, "standard close code %d", std)
			}
			assert.Equal(t, resume[c], c.Resume())

			err := protocol.NewError(c, "boom %d", 7)
			assert.ErrorIs(t, err, sentinels[c])
			for other, s := range sentinels {
				if other != c {
					assert.NotErrorIs(t, err, s)
				}
			}
			assert.Equal(t, resume[c], err.Resume)
			assert.NoError(t, protocol.Validate(err, protocol.Limits{}), "a code is a valid wire code")
		})
	}
}

func TestStandardCloseCodes(t *testing.T) {
	tests := []struct {
		close int
		want  protocol.Code
		ok    bool
	}{
		{protocol.CloseNormal, "", false},
		{protocol.CloseAbnormal, "", false},
		{4999, "", false},
		{protocol.CloseStdGoingAway, protocol.CodeGoingAway, true},
		{protocol.CloseServiceRestart, protocol.CodeGoingAway, true},
		{protocol.CloseMessageTooBig, protocol.CodeFrameTooLarge, true},
		{protocol.ClosePolicyViolation, protocol.CodeProtocolViolation, true},
		{protocol.CloseInvalidPayload, protocol.CodeProtocolViolation, true},
		{protocol.CloseInternalError, protocol.CodeInternal, true},
		{protocol.CloseTryAgainLater, protocol.CodeOverloaded, true},
	}
	for _, tc := range tests {
		got, ok := protocol.FromCloseCode(tc.close)
		assert.Equal(t, tc.ok, ok, "close %d", tc.close)
		assert.Equal(t, tc.want, got, "close %d", tc.close)
	}
	assert.Equal(t, 1009, protocol.CodeFrameTooLarge.StandardCloseCode())
	assert.Equal(t, 1001, protocol.CodeGoingAway.StandardCloseCode())
	assert.Zero(t, protocol.CodeUnauthorized.StandardCloseCode())
}

func TestUnknownCode(t *testing.T) {
	c := protocol.Code("quota_exceeded")
	assert.False(t, c.Known())
	assert.Equal(t, protocol.CloseProtocolViolation, c.CloseCode())
	assert.Zero(t, c.StandardCloseCode())
	assert.False(t, c.Resume())
	err := protocol.NewError(c, "x")
	assert.Empty(t, err.Unwrap())
}

func TestErrorMessage(t *testing.T) {
	e := &protocol.Error{Code: protocol.CodeOverloaded, Message: "too busy", EventID: id1, RetryAfterMS: 1500}
	assert.Equal(t, "protocol: overloaded (event "+id1+"): too busy", e.Error())
	assert.Equal(t, 1500*time.Millisecond, e.RetryAfter())
	assert.Equal(t, protocol.TypeError, e.Type())
	var target *protocol.Error
	assert.True(t, errors.As(error(e), &target))
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		offered []int
		want    int
		ok      bool
	}{
		{[]int{1}, 1, true},
		{[]int{4, 1, 2}, 2, true},
		{[]int{2, 3}, 3, true},
		{[]int{1, 3}, 3, true},
		{[]int{4, 5}, 0, false},
		{nil, 0, false},
	}
	for _, tc := range tests {
		got, ok := protocol.Negotiate(tc.offered)
		assert.Equal(t, tc.want, got, "%v", tc.offered)
		assert.Equal(t, tc.ok, ok, "%v", tc.offered)
	}
	assert.Equal(t, []int{protocol.Version, 2, 1}, protocol.Versions())
	assert.True(t, protocol.Supported(3))
	assert.True(t, protocol.Supported(2))
	assert.False(t, protocol.Supported(4))
	assert.True(t, protocol.Supported(1))
	assert.False(t, protocol.Supported(0))
}
