"""Small BPMN documents for tests, written out in full so that each test shows what it deploys."""

from __future__ import annotations

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:samflode="http://samflode.se/schema/bpmn/1.0" id="defs" targetNamespace="http://samflode.se/test">\n'
)


def linear(process_id: str, body: str, messages: str = "", executable: bool = True) -> str:
    """A process whose elements and flows are given in `body`."""
    flag = "true" if executable else "false"
    return f'{HEAD}{messages}<bpmn:process id="{process_id}" isExecutable="{flag}">\n{body}\n</bpmn:process>\n</bpmn:definitions>\n'


def script_process(process_id: str, script: str) -> str:
    """start -> user task 'forbered' -> script task 'skript' -> user task 'efter' -> end."""
    return linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forbered" name="Förbered" />
  <bpmn:scriptTask id="skript" name="Skript"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:userTask id="efter" name="Efter" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forbered" />
  <bpmn:sequenceFlow id="f2" sourceRef="forbered" targetRef="skript" />
  <bpmn:sequenceFlow id="f3" sourceRef="skript" targetRef="efter" />
  <bpmn:sequenceFlow id="f4" sourceRef="efter" targetRef="end" />""",
    )


def gateway_process(process_id: str, condition: str, default: bool) -> str:
    """start -> user task 'bedom' -> exclusive gateway 'gw' (condition -> 'ja', otherwise default or nothing)."""
    default_attr = ' default="f_nej"' if default else ""
    no_flow = (
        '<bpmn:sequenceFlow id="f_nej" sourceRef="gw" targetRef="nej" />'
        if default
        else (
            '<bpmn:sequenceFlow id="f_nej" sourceRef="gw" targetRef="nej">'
            "<bpmn:conditionExpression>svar == 'nej'</bpmn:conditionExpression></bpmn:sequenceFlow>"
        )
    )
    return linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom" name="Bedöm" />
  <bpmn:exclusiveGateway id="gw"{default_attr} />
  <bpmn:userTask id="ja" name="Ja" />
  <bpmn:userTask id="nej" name="Nej" />
  <bpmn:endEvent id="end1" /><bpmn:endEvent id="end2" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="gw" />
  <bpmn:sequenceFlow id="f_ja" sourceRef="gw" targetRef="ja"><bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
  {no_flow}
  <bpmn:sequenceFlow id="f3" sourceRef="ja" targetRef="end1" />
  <bpmn:sequenceFlow id="f4" sourceRef="nej" targetRef="end2" />""",
    )


def timer_process(process_id: str, timer: str, kind: str = "timeDuration") -> str:
    """start -> intermediate timer 'vanta' -> user task 'sedan' -> end."""
    return linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:intermediateCatchEvent id="vanta" name="Vänta">
    <bpmn:timerEventDefinition><bpmn:{kind}>{timer}</bpmn:{kind}></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="sedan" name="Sedan" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vanta" />
  <bpmn:sequenceFlow id="f2" sourceRef="vanta" targetRef="sedan" />
  <bpmn:sequenceFlow id="f3" sourceRef="sedan" targetRef="end" />""",
    )


def message_start_process(process_id: str, start_message: str, next_message: str) -> str:
    """Starts on a message, a user task 'registrera', waits for a second message, ends."""
    messages = (
        f'<bpmn:message id="m_start" name="{start_message}" />\n<bpmn:message id="m_next" name="{next_message}" />\n'
    )
    return linear(
        process_id,
        """
  <bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="m_start" /></bpmn:startEvent>
  <bpmn:userTask id="registrera" name="Registrera" />
  <bpmn:intermediateCatchEvent id="vanta"><bpmn:messageEventDefinition messageRef="m_next" /></bpmn:intermediateCatchEvent>
  <bpmn:userTask id="avsluta" name="Avsluta" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="registrera" />
  <bpmn:sequenceFlow id="f2" sourceRef="registrera" targetRef="vanta" />
  <bpmn:sequenceFlow id="f3" sourceRef="vanta" targetRef="avsluta" />
  <bpmn:sequenceFlow id="f4" sourceRef="avsluta" targetRef="end" />""",
        messages=messages,
    )


def call_process(process_id: str, called: str) -> str:
    return linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:callActivity id="anropa" name="Anropa" calledElement="{called}" />
  <bpmn:userTask id="efter" name="Efter anropet" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="anropa" />
  <bpmn:sequenceFlow id="f2" sourceRef="anropa" targetRef="efter" />
  <bpmn:sequenceFlow id="f3" sourceRef="efter" targetRef="end" />""",
    )


def single_task(process_id: str, name: str = "Gör något") -> str:
    return linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="uppgift" name="{name}" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="uppgift" />
  <bpmn:sequenceFlow id="f2" sourceRef="uppgift" targetRef="end" />""",
    )
