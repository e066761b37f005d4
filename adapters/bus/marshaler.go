package bus

import (
	"fmt"
	"net/url"

	"github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// marshaler is watermill's default AMQP marshaler made total: the default one fails on any
// header that is not a string (x-death after a dead-lettering, or a foreign publisher), and a
// message that cannot be unmarshalled is nacked and requeued forever. Such headers become
// text instead. It also fills the AMQP properties an operator sees in the broker's UI.
type marshaler struct{ amqp.DefaultMarshaler }

func (m marshaler) Marshal(msg *message.Message) (amqp091.Publishing, error) {
	p, err := m.DefaultMarshaler.Marshal(msg)
	if err != nil {
		return p, fmt.Errorf("marshal message %s: %w", msg.UUID, err)
	}
	p.ContentType = "application/json"
	p.MessageId = msg.UUID
	p.Type = msg.Metadata.Get(MetaType)
	p.CorrelationId = msg.Metadata.Get(MetaCorrelationID)
	return p, nil
}

func (m marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	headers := make(amqp091.Table, len(d.Headers))
	for k, v := range d.Headers {
		if _, ok := v.(string); !ok {
			v = fmt.Sprint(v)
		}
		headers[k] = v
	}
	d.Headers = headers
	msg, err := m.DefaultMarshaler.Unmarshal(d)
	if err != nil {
		return nil, fmt.Errorf("unmarshal delivery %s: %w", d.MessageId, err)
	}
	return msg, nil
}

// redact hides a password in a URL before it reaches an error or a log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable AMQP URL)"
	}
	return u.Redacted()
}
