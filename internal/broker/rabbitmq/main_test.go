package rabbitmq

import (
	"testing"

	"github.com/mqctl/mqctl/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
